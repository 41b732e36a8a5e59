package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

// syncBuffer is a buffer safe for a command writing while the test reads.
type syncBuffer = testutil.SyncBuffer

// runCtx runs the CLI and returns its standard output and error output.
func runCtx(ctx context.Context, out *syncBuffer, args ...string) (string, error) {
	var errb syncBuffer
	err := Run(ctx, append([]string{"telemesh", "--log-level", "error"}, args...), out, &errb)
	return errb.String(), err
}

// consumerStack runs a router, the hub command and a fake node "demo" with
// two fields on two timelines, and returns the router URL.
func consumerStack(t *testing.T) (url string, publish func()) {
	n := protocol.DefaultNames()
	url = routertest.Start(t, n.Realm).WebSocketURL()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { runCtx(ctx, &syncBuffer{}, "hub", "--url", url); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	d, err := wampx.Config{URL: url, Realm: n.Realm}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fieldMap := wamp.Dict{
		"temp":   wamp.Dict{"description": "air temperature", "timeline": "fast", "type": "number", "units": "C"},
		"status": wamp.Dict{"description": nil, "timeline": "slow", "type": "string", "units": nil},
	}
	timelineMap := wamp.Dict{"fast": wamp.Dict{"interval": 1.0, "field": wamp.List{"temp"}}, "slow": wamp.Dict{"interval": nil, "field": wamp.List{"status"}}}
	fields := func(context.Context, *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: wamp.List{wamp.List{fieldMap, timelineMap}}}
	}
	data := func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		fs, _ := wamp.AsList(inv.Arguments[0])
		out := wamp.Dict{"data": wamp.Dict{}, "timeline": wamp.Dict{}}
		for _, f := range fs {
			switch f {
			case "temp":
				out["data"].(wamp.Dict)["temp"] = wamp.List{20.5, 21.0, 21.5}
				out["timeline"].(wamp.Dict)["fast"] = wamp.Dict{"t": wamp.List{100.0, 101.0, 102.0}, "finalized_until": 102.0}
			case "status":
				out["data"].(wamp.Dict)["status"] = wamp.List{"ok"}
				out["timeline"].(wamp.Dict)["slow"] = wamp.Dict{"t": wamp.List{101.0}, "finalized_until": 101.0}
			default:
				return wampx.Fail(n, protocol.Errorf(protocol.UnknownField, "unknown field %v", f))
			}
		}
		return client.InvokeResult{Args: wamp.List{out}}
	}
	if err := c.Register(n.GetFields("demo"), fields, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(n.GetData("demo"), data, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Call(context.Background(), n.DataNodeAdd(), nil, wamp.List{"demo", "a demo node", 0}, wamp.Dict{"fields": fieldMap, "timelines": timelineMap}, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the hub is starting
	}
	publish = func() {
		batch := wamp.Dict{"data": wamp.Dict{"temp": wamp.List{22.25}}, "timeline": wamp.Dict{"fast": wamp.Dict{"t": wamp.List{200.0}, "finalized_until": nil}}}
		c.Publish(n.Data("demo"), nil, wamp.List{batch}, nil)
	}
	return url, publish
}

func TestConsumerCommands(t *testing.T) {
	url, publish := consumerStack(t)
	ctx := context.Background()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"nodes", []string{"nodes", "--url", "URL"}, []string{"NAME", "demo", "a demo node", "status,temp"}},
		{"nodes json", []string{"nodes", "--url", "URL", "--format", "json"}, []string{`"name": "demo"`, `"units": "C"`}},
		{"fields", []string{"fields", "--url", "URL", "demo"}, []string{"FIELD", "temp", "number", "C", "fast", "air temperature", "status", "string", "slow"}},
		{"get csv", []string{"get", "--url", "URL", "--from", "100", "--to", "1970-01-01T00:05:00Z", "--format", "csv", "demo", "temp", "status"},
			[]string{"time,temp,status\n", "1970-01-01T00:01:40.000Z,20.5,\n", "1970-01-01T00:01:41.000Z,21,ok\n", "1970-01-01T00:01:42.000Z,21.5,\n"}},
		{"flags after arguments", []string{"get", "--url", "URL", "demo", "temp", "--from", "100", "--to", "200", "--format", "csv"}, []string{"time,temp\n", "1970-01-01T00:01:42.000Z,21.5\n"}},
		{"get json", []string{"get", "--url", "URL", "--from", "100", "--to", "200", "--format", "json", "demo", "temp"}, []string{`"temp":[20.5,21,21.5]`, `"t":[100,101,102]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			stderr, err := runCtx(ctx, &out, withURL(tc.args, url)...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tc.args, err, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}

	errs := []struct {
		name string
		args []string
		want string
	}{
		{"unknown node", []string{"get", "--url", "URL", "nobody", "x"}, `no data node named "nobody" is connected (telemesh nodes lists them)`},
		{"unknown field", []string{"get", "--url", "URL", "demo", "pressure"}, `node demo has no field "pressure" (telemesh fields demo lists them)`},
		{"bad time", []string{"get", "--url", "URL", "--from", "yesterday", "demo", "temp"}, "--from"},
		{"bad agg", []string{"get", "--url", "URL", "--agg", "median", "demo", "temp"}, "--agg"},
		{"bad format", []string{"nodes", "--url", "URL", "--format", "xml"}, "--format"},
		{"fields of unknown node", []string{"fields", "--url", "URL", "nobody"}, `no data node named "nobody"`},
		{"tail unknown node", []string{"tail", "--url", "URL", "nobody"}, `no data node named "nobody"`},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCtx(ctx, &syncBuffer{}, withURL(tc.args, url)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v; want it to contain %q", err, tc.want)
			}
		})
	}

	t.Run("tail", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var out syncBuffer
		done := make(chan error, 1)
		go func() {
			_, err := runCtx(ctx, &out, "tail", "--format", "csv", "--url", url, "demo", "temp")
			done <- err
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "1970-01-01T00:03:20.000Z,22.25") {
			if time.Now().After(deadline) {
				t.Fatalf("tail printed %q", out.String())
			}
			publish() // until the subscription is in place
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tail after interrupt: %v", err)
		}
		if strings.Count(out.String(), "time,temp") != 1 {
			t.Errorf("header printed more than once:\n%s", out.String())
		}
	})
}

func withURL(args []string, url string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "URL" {
			a = url
		}
		out[i] = a
	}
	return out
}
