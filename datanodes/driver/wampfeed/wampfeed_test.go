package wampfeed

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/datanodes/driver/config"
	"github.com/telemesh/telemesh/datanodes/driver/drivertest"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

func TestSample(t *testing.T) {
	d := drivertest.CheckSample(t, "wampfeed").(*Driver)
	if d.Topic() != "observatory..feeds." {
		t.Fatalf("topic = %q", d.Topic())
	}
}

func TestConfigErrors(t *testing.T) {
	drivertest.CheckInvalid(t, "wampfeed", []string{
		"router: {url: 'ws://x/ws'}",
		"router: {realm: r}",
		"router: {url: 'ws://x/ws', realm: r}\nroot: 'a..b'",
		"router: {url: 'ws://x/ws', realm: r, serializer: xml}",
		"router: {url: 'ws://x/ws', realm: r}\nagents: 1",
	})
}

// ocsMessage builds a recorded feed event's arguments as OCS sends them:
// one argument, the pair (message, feed_data).
func ocsMessage(agent, feed string, t0 float64, n int) wamp.List {
	ts := make([]any, n)
	a, b := make([]any, n), make([]any, n)
	for i := range ts {
		ts[i] = t0 + float64(i)
		a[i] = 1.5 + float64(i)
		b[i] = int64(100 + i)
	}
	msg := wamp.Dict{"temps": wamp.Dict{
		"block_name": "temps",
		"timestamps": ts,
		"data":       wamp.Dict{"Channel 01 R": a, "Channel 02 T": b},
	}}
	return wamp.List{wamp.List{msg, feedData(agent, feed, true)}}
}

func feedData(agent, feed string, record bool) wamp.Dict {
	return wamp.Dict{"agent_address": "observatory." + agent, "agg_params": wamp.Dict{}, "feed_name": feed,
		"address": "observatory." + agent + ".feeds." + feed, "record": record, "session_id": "1", "agent_class": "Lakeshore372Agent"}
}

func TestHandle(t *testing.T) {
	d := New()
	r := drivertest.NewRecorder()
	if err := d.handle(r, "observatory.LSA22YE.feeds.temperatures", ocsMessage("LSA22YE", "temperatures", 1700000000, 3)); err != nil {
		t.Fatal(err)
	}
	// sisock's data_feed_server names: the key, on <agent>.<field>.
	rs := r.Of("channel_01_r")
	if len(rs) != 3 || rs[2].Value != 3.5 || rs[2].Time != 1700000002e9 {
		t.Fatalf("readings = %+v", rs)
	}
	f := r.Fields()["channel_02_t"]
	if f.Timeline != "observatory.LSA22YE.channel_02_t" || f.Type != protocol.TypeNumber {
		t.Fatalf("field = %+v", f)
	}
	// Another agent's same key is refused, not mixed in.
	if err := d.handle(r, "", ocsMessage("other", "temperatures", 1700000000, 1)); err == nil || !strings.Contains(err.Error(), "field_names: address") {
		t.Fatalf("second agent on the same field: %v", err)
	}
	// Unrecorded feeds: the agent's own message, one sample or lists.
	own := wamp.List{wamp.List{wamp.Dict{"block_name": "state", "timestamp": 1700000010.0, "data": wamp.Dict{"Scan Speed": 0.5, "Mode": "idle"}}, feedData("LSA22YE", "status", false)}}
	if err := d.handle(r, "", own); err != nil {
		t.Fatal(err)
	}
	if rs := r.Of("scan_speed"); len(rs) != 1 || rs[0].Value != 0.5 || rs[0].Time != 1700000010e9 {
		t.Fatalf("unrecorded readings = %+v", rs)
	}
	if rs := r.Of("mode"); len(rs) != 1 || rs[0].Value != "idle" {
		t.Fatalf("unrecorded string = %+v", rs)
	}
	lists := wamp.List{wamp.List{wamp.Dict{"block_name": "pair", "timestamps": []any{1.0, 2.0}, "data": wamp.Dict{"Az": []any{10.0, 11.0}}}, feedData("LSA22YE", "status", false)}}
	if err := d.handle(r, "", lists); err != nil || len(r.Of("az")) != 2 {
		t.Fatalf("unrecorded lists: %v %+v", err, r.Of("az"))
	}
	// Malformed events are reported, the good blocks still count.
	d = New()
	d.FieldNames = NamesAddress
	bad := wamp.List{wamp.List{wamp.Dict{
		"a": wamp.Dict{"timestamps": []any{1.0}, "data": wamp.Dict{"x": []any{1.0, 2.0}}},
		"b": "nope",
		"c": wamp.Dict{"timestamps": []any{1.0}, "data": wamp.Dict{"ok": []any{7.0}}},
	}, feedData("X", "f", true)}}
	err := d.handle(r, "observatory.X.feeds.f", bad)
	if err == nil || !strings.Contains(err.Error(), "want 1 values") || !strings.Contains(err.Error(), "not a map") {
		t.Fatalf("err = %v", err)
	}
	if rs := r.Of("observatory.X.ok"); len(rs) != 1 {
		t.Fatalf("good block lost: %+v", rs)
	}
	if f := r.Fields()["observatory.X.ok"]; f.Timeline != "observatory.X.c" {
		t.Fatalf("address naming: field = %+v", f)
	}
	for _, args := range []wamp.List{{"x"}, {wamp.List{1}}, {wamp.List{wamp.Dict{}, "x"}}, {}} {
		if err := d.handle(r, "", args); err == nil {
			t.Errorf("malformed event %v accepted", args)
		}
	}
}

func dialPublisher(t *testing.T, url, realm string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.ConnectNet(ctx, url, client.Config{Realm: realm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNexusRouter(t *testing.T) {
	_, url := testutil.NexusRouter(t, "test_realm")
	d := drivertest.MustDecode(t, "wampfeed", fmt.Sprintf("router: {url: %q, realm: test_realm, serializer: json}\nagents: [LSA22YE, thermo1]\nfield_names: address\n", url)).(*Driver)
	r := drivertest.NewRecorder()
	drivertest.Start(t, d, r)
	pub := dialPublisher(t, url, "test_realm")
	// The subscription is made asynchronously: publish until it is live.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for r.Count("observatory.LSA22YE.channel_01_r") == 0 {
		if err := pub.Publish("observatory.LSA22YE.feeds.temperatures", nil, ocsMessage("LSA22YE", "temperatures", 1700000000, 2), nil); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		r.WaitFor(wctx, func(r *drivertest.Recorder) bool { return r.Len() > 0 })
		wcancel()
		if ctx.Err() != nil {
			t.Fatal("no readings from the feed")
		}
	}
	// A second agent on the same subscription; an agent not listed is skipped.
	pub.Publish("observatory.other.feeds.x", nil, ocsMessage("other", "x", 1700000000, 1), nil)
	pub.Publish("observatory.thermo1.feeds.temps", nil, ocsMessage("thermo1", "temps", 1700000100, 4), nil)
	r.WaitField(t, "observatory.thermo1.channel_02_t", 4)
	for _, n := range r.FieldNames() {
		if strings.Contains(n, "other") {
			t.Fatalf("agent not listed was read: %v", r.FieldNames())
		}
	}
}

func TestRouterDown(t *testing.T) {
	d := drivertest.MustDecode(t, "wampfeed", "router: {url: 'ws://127.0.0.1:1/ws', realm: r, timeout: 1s}\n").(*Driver)
	r := drivertest.NewRecorder()
	drivertest.Start(t, d, r)
	r.WaitErrors(t, 2)
}

// TestPythonPublisher has a python3-autobahn client publish recorded and
// unrecorded feeds the way OCS agents do.
func TestPythonPublisher(t *testing.T) {
	py := testutil.NeedPython(t)
	_, url := testutil.NexusRouter(t, "test_realm")
	d := drivertest.MustDecode(t, "wampfeed", fmt.Sprintf("router: {url: %q, realm: test_realm, serializer: json}\nagents: [LS372]\n", url)).(*Driver)
	r := drivertest.NewRecorder()
	drivertest.Start(t, d, r)
	// Wait until the subscription exists so the publisher's events count.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub := dialPublisher(t, url, "test_realm")
	for r.Count("channel_01_r") == 0 {
		pub.Publish("observatory.LS372.feeds.f", nil, ocsMessage("LS372", "f", 1600000000, 1), nil)
		wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		r.WaitFor(wctx, func(r *drivertest.Recorder) bool { return r.Len() > 0 })
		wcancel()
		if ctx.Err() != nil {
			t.Fatal("subscription never became live")
		}
	}
	out, err := testutil.RunErr(30*time.Second, py, "testdata/ocs_publisher.py", url, "test_realm", "LS372", "5")
	if err != nil {
		t.Fatalf("publisher: %v\n%s", err, out)
	}
	rs := r.WaitField(t, "channel_01_r", 11) // the probe, then 5 events of 2 samples
	if rs[10].Value != 109.0 {
		t.Fatalf("recorded readings = %+v", rs)
	}
	if f := r.Fields()["heater_on"]; f.Type != protocol.TypeBool || f.Timeline != "observatory.LS372.heater_on" {
		t.Fatalf("heater field = %+v", f)
	}
	if rs := r.WaitField(t, "scan_speed", 5); rs[4].Value != 2.0 {
		t.Fatalf("unrecorded readings = %+v", rs)
	}
	if rs := r.WaitField(t, "mode", 5); rs[0].Value != "idle" {
		t.Fatalf("unrecorded strings = %+v", rs)
	}
	if rs := r.WaitField(t, "az", 10); rs[9].Value != 15.0 {
		t.Fatalf("unrecorded lists = %+v", rs)
	}
}

// TestTimestamps: a block's timestamps in s, ms or µs are detected (or the
// unit forced); a block with one past 2262 is skipped and reported with
// its fields and the raw value, the other blocks still count.
func TestTimestamps(t *testing.T) {
	const at = int64(1_795_461_300_123_000_000) // 2026-11-23T19:15:00.123Z
	for _, tc := range []struct {
		name string
		unit config.TimeUnit
		t0   float64
		want int64
		err  string
	}{
		{"seconds", "", 1_795_461_300.123, at, ""},
		{"ms", config.UnitAuto, 1_795_461_300_123, at, ""},
		{"us", "", 1_795_461_300_123_000, at, ""},
		{"ms forced", config.UnitMillis, 1_795_461_300_123, at, ""},
		{"1e10 s", "", 1e10, 0, "block temps (fields channel_01_r, channel_02_t) skipped: timestamp 0 (1e+10): time 1e+10 in seconds (auto-detected): time outside"},
		{"ms as s", config.UnitSeconds, 1_795_461_300_123, 0, "time 1.795461300123e+12 in seconds: time outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New()
			d.TimeUnit = tc.unit
			r := drivertest.NewRecorder()
			err := d.handle(r, "", ocsMessage("LSA22YE", "temperatures", tc.t0, 1))
			rs := r.Of("channel_01_r")
			if tc.err == "" {
				if err != nil || len(rs) != 1 || rs[0].Time != tc.want {
					t.Fatalf("err %v, readings %+v; want one at %d", err, rs, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || len(r.Readings()) != 0 {
				t.Fatalf("err %v, readings %+v; want none and %q", err, r.Readings(), tc.err)
			}
		})
	}
}
