package wampx

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

func TestFailAndFromCall(t *testing.T) {
	n := protocol.DefaultNames()
	_, url := testutil.NexusRouter(t, n.Realm)
	dial, err := Config{URL: url, Realm: n.Realm, Serializer: "json"}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	callee, err := dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	err = callee.Register("x.fail", func(ctx context.Context, inv *wamp.Invocation) client.InvokeResult {
		e := protocol.Errorf(protocol.TooMuchData, "86400 points exceed the limit of 1000")
		e.Details = map[string]any{"points": 86400}
		return Fail(n, e)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = callee.Register("x.plain", func(ctx context.Context, inv *wamp.Invocation) client.InvokeResult {
		return Fail(n, errors.New("disk on fire"))
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	caller, err := dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()

	_, err = caller.Call(ctx, "x.fail", nil, nil, nil, nil)
	err = FromCall(n, err)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Kind != protocol.TooMuchData {
		t.Fatalf("FromCall = %#v", err)
	}
	if pe.Message != "86400 points exceed the limit of 1000" {
		t.Errorf("message = %q", pe.Message)
	}
	if p, _ := wamp.AsInt64(pe.Details["points"]); p != 86400 {
		t.Errorf("details = %v", pe.Details)
	}

	_, err = caller.Call(ctx, "x.plain", nil, nil, nil, nil)
	if k := protocol.KindOf(FromCall(n, err)); k != protocol.Internal {
		t.Errorf("plain error kind = %v", k)
	}
	_, err = caller.Call(ctx, "x.missing", nil, nil, nil, nil)
	if k := protocol.KindOf(FromCall(n, err)); k != protocol.NoSuchNode {
		t.Errorf("missing procedure kind = %v (%v)", k, err)
	}
}

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		v    any
		ok   bool
		want float64
	}{
		{1.5, true, 1.5}, {int64(3), true, 3}, {uint64(4), true, 4}, {"1", false, 0},
		{math.NaN(), false, 0}, {math.Inf(1), false, 0}, {nil, false, 0},
	} {
		got, err := Float("start", tc.v)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Float(%v) = %v, %v", tc.v, got, err)
		}
		if err != nil && protocol.KindOf(err) != protocol.InvalidArgument {
			t.Errorf("Float(%v) kind = %v", tc.v, protocol.KindOf(err))
		}
	}
	if _, err := Int("max_points", 2.5); err == nil {
		t.Error("Int accepted 2.5")
	}
	if v, err := Int("max_points", 1000.0); err != nil || v != 1000 {
		t.Errorf("Int(1000.0) = %v, %v", v, err)
	}
	if ss, err := Strings("fields", wamp.List{"a", "b"}); err != nil || len(ss) != 2 {
		t.Errorf("Strings = %v, %v", ss, err)
	}
	if _, err := Strings("fields", wamp.List{"a", 1}); err == nil {
		t.Error("Strings accepted a number")
	}
	if _, err := Strings("fields", "a"); err == nil {
		t.Error("Strings accepted a bare string")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no realm", Config{URL: "ws://x"}},
		{"bad serializer", Config{URL: "ws://x", Realm: "r", Serializer: "xml"}},
		{"ticket without secret", Config{URL: "ws://x", Realm: "r", AuthID: "a", AuthMethod: "ticket"}},
		{"method without authid", Config{URL: "ws://x", Realm: "r", AuthMethod: "ticket", Secret: "s"}},
		{"bad cryptosign key", Config{URL: "ws://x", Realm: "r", AuthID: "a", AuthMethod: "cryptosign", Secret: "zz"}},
		{"unknown method", Config{URL: "ws://x", Realm: "r", AuthID: "a", AuthMethod: "kerberos", Secret: "s"}},
		{"missing secret file", Config{URL: "ws://x", Realm: "r", AuthID: "a", SecretFile: "/nonexistent/secret"}},
		{"missing CA", Config{URL: "wss://x", Realm: "r", CAFile: "/nonexistent/ca.pem"}},
	} {
		if _, err := tc.cfg.ClientConfig(nil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := (Config{Realm: "r"}).Dialer(nil); err == nil {
		t.Error("Dialer without URL: no error")
	}
}

// TestDialerConcurrent dials many sessions at once from one Dialer; under
// -race it proves the sessions share no mutable configuration.
func TestDialerConcurrent(t *testing.T) {
	n := protocol.DefaultNames()
	_, url := testutil.NexusRouter(t, n.Realm)
	dial, err := Config{URL: url, Realm: n.Realm, AuthID: "x", AuthMethod: "anonymous"}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			c, err := dial(context.Background())
			if err == nil {
				c.Close()
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
