package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/driver/drivertest"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

func TestSample(t *testing.T) {
	d := drivertest.CheckSample(t, "mqtt").(*Driver)
	if d.Metadata["scd30.co2"].Units != "ppm" || d.Metadata["sgp30.tvoc"].Units != "ppb" {
		t.Fatalf("metadata = %v", d.Metadata)
	}
}

func TestConfigErrors(t *testing.T) {
	drivertest.CheckInvalid(t, "mqtt", []string{
		"topics: []",
		"broker: localhost:1883\ntopics: [a]",
		"topics: [a]\nqos: 3",
		"topics: [a]\nclean_session: false",
		"topics: [a]\npayload: {format: xml}",
		"topics: [a]\npayload: {time_zone: Nowhere/Land}",
		"topics: [a]\npreset: other",
		"topics: [a]\nunknown: 1",
	})
}

func TestHandleSimoc(t *testing.T) {
	d := drivertest.MustDecode(t, "mqtt", "preset: simoc_sam\npayload: {time_zone: America/Phoenix}\nmetadata: {scd30.co2: {units: ppm, description: carbon dioxide}}\n").(*Driver)
	r := drivertest.NewRecorder()
	now := time.Unix(1700000000, 0)
	d.Handle(r, "sam/samrpi1/scd30", []byte(`{"co2": 612.3, "temperature": 24.1, "humidity": 41.0, "timestamp": "2024-03-01 12:00:00.250000", "n": 57}`), now)
	rs := r.Readings()
	if len(rs) != 3 {
		t.Fatalf("readings = %+v", rs)
	}
	want := time.Date(2024, 3, 1, 19, 0, 0, 250e6, time.UTC).UnixNano()
	for _, rd := range rs {
		if rd.Time != want {
			t.Errorf("%s time = %v, want %v", rd.Field, time.Unix(0, rd.Time).UTC(), time.Unix(0, want).UTC())
		}
	}
	f := r.Fields()
	co2 := f["samrpi1.scd30.co2"]
	if co2.Units != "ppm" || co2.Description != "carbon dioxide" || co2.Timeline != "samrpi1.scd30" || co2.Interval != 10*time.Second {
		t.Errorf("co2 field = %+v", co2)
	}
	if f["samrpi1.scd30.temperature"].Units != "°C" {
		t.Errorf("temperature field = %+v", f["samrpi1.scd30.temperature"])
	}
	if _, ok := f["samrpi1.scd30.n"]; ok {
		t.Error("counter n became a field")
	}
	// Bad payloads and times are reported; good parts are kept.
	d.Handle(r, "sam/samrpi1/scd30", []byte(`{"co2": `), now)
	d.Handle(r, "sam/samrpi1/scd30", []byte(`{"co2": 600, "timestamp": "yesterday"}`), now)
	d.Handle(r, "sam/samrpi1/scd30", []byte(`{"co2": "high"}`), now)
	if n := len(r.Errors()); n != 3 {
		t.Fatalf("errors = %v", r.Errors())
	}
	last := r.Of("samrpi1.scd30.co2")
	if len(last) != 2 || last[1].Time != now.UnixNano() || last[1].Value != 600.0 {
		t.Fatalf("co2 readings = %+v", last)
	}
}

func TestHandleValueAndEpoch(t *testing.T) {
	d := drivertest.MustDecode(t, "mqtt", "topics: ['home/#']\npayload: {format: value}\nfield: '{topic}'\n").(*Driver)
	r := drivertest.NewRecorder()
	d.Handle(r, "home/kitchen/temp", []byte("21.5\n"), time.Unix(5, 0))
	d.Handle(r, "home/door", []byte("true"), time.Unix(6, 0))
	f := r.Fields()
	if f["home.kitchen.temp"].Type != protocol.TypeNumber || f["home.door"].Type != protocol.TypeBool {
		t.Fatalf("fields = %+v", f)
	}
	d = drivertest.MustDecode(t, "mqtt", "topics: [x]\npayload: {time_key: ts, time_layout: epoch_ms, keys: [a.b]}\n").(*Driver)
	r = drivertest.NewRecorder()
	d.Handle(r, "x", []byte(`{"ts": 1700000000500, "a": {"b": 1, "c": 2}, "l": [1, 2]}`), time.Now())
	rs := r.Readings()
	if len(rs) != 1 || rs[0].Field != "x.a.b" || rs[0].Time != 1700000000500e6 {
		t.Fatalf("readings = %+v", rs)
	}
}

func publisher(t testing.TB, url string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())).SetAutoReconnect(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t testing.TB, c paho.Client, topic string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if tok := c.Publish(topic, 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// publishUntil publishes v every 50ms until the field has a reading of
// value want: the driver's subscription is made asynchronously.
func publishUntil(t *testing.T, r *drivertest.Recorder, c paho.Client, topic, field string, want float64, v map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		publish(t, c, topic, v)
		wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := r.WaitFor(wctx, func(r *drivertest.Recorder) bool {
			for _, rd := range r.Of(field) {
				if rd.Value == want {
					return true
				}
			}
			return false
		})
		wcancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("no reading of %s after 15s", field)
		}
	}
}

func TestBrokerRestart(t *testing.T) {
	b := testutil.StartMosquitto(t)
	d := drivertest.MustDecode(t, "mqtt", fmt.Sprintf("preset: simoc_sam\nbroker: %s\ntopics: ['sam/#']\n", b.URL())).(*Driver)
	r := drivertest.NewRecorder()
	drivertest.Start(t, d, r)
	pub := publisher(t, b.URL())
	msg := map[string]any{"co2": 500.0, "timestamp": time.Now().Format("2006-01-02 15:04:05.000000"), "n": 1}
	publishUntil(t, r, pub, "sam/pi1/scd30", "pi1.scd30.co2", 500, msg)

	b.Stop()
	errs := r.WaitErrors(t, 1)
	if !strings.Contains(errs[0].Error(), "connection lost") {
		t.Fatalf("error = %v", errs[0])
	}
	b.Start()
	pub = publisher(t, b.URL())
	msg["co2"] = 510.0
	publishUntil(t, r, pub, "sam/pi1/scd30", "pi1.scd30.co2", 510, msg)
}

func TestBrokerDownAtStart(t *testing.T) {
	d := drivertest.MustDecode(t, "mqtt", "broker: tcp://127.0.0.1:1\ntopics: [a]\n").(*Driver)
	r := drivertest.NewRecorder()
	drivertest.Start(t, d, r)
	errs := r.WaitErrors(t, 2) // reported, then retried
	if !strings.Contains(errs[0].Error(), "connect") {
		t.Fatalf("error = %v", errs[0])
	}
}

// counter counts readings and errors.
type counter struct{ n, errs atomic.Int64 }

func (c *counter) Declare(...driver.Field)     {}
func (c *counter) Emit(rs ...protocol.Reading) { c.n.Add(int64(len(rs))) }
func (c *counter) Error(error)                 { c.errs.Add(1) }

// BenchmarkSustainedQoS1 publishes b.N simoc-sam messages at QoS 1 with
// many in flight and waits until the driver has every reading: msgs/s and
// lost (must be 0).
func BenchmarkSustainedQoS1(b *testing.B) {
	br := testutil.StartMosquitto(b)
	d := drivertest.MustDecode(b, "mqtt", fmt.Sprintf("preset: simoc_sam\nbroker: %s\ntopics: ['sam/#']\nqos: 1\n", br.URL())).(*Driver)
	var c counter
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, &c) }()
	defer func() { cancel(); <-done }()
	pub := publisher(b, br.URL())
	// Warm up until the subscription is live.
	for c.n.Load() == 0 {
		publish(b, pub, "sam/pi/mock", map[string]any{"co2": 1.0})
		time.Sleep(10 * time.Millisecond)
	}
	base := c.n.Load()
	payload := []byte(`{"co2": 612.3, "temperature": 24.1, "humidity": 41.0, "timestamp": "2024-03-01 12:00:00.250000", "n": 57}`)
	b.ResetTimer()
	const window = 200
	toks := make([]paho.Token, 0, window)
	for i := 0; i < b.N; i++ {
		toks = append(toks, pub.Publish("sam/pi/scd30", 1, false, payload))
		if len(toks) == window || i == b.N-1 {
			for _, tok := range toks {
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					b.Fatalf("publish: %v", tok.Error())
				}
			}
			toks = toks[:0]
		}
	}
	want := base + 3*int64(b.N)
	deadline := time.Now().Add(60 * time.Second)
	for c.n.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(want-c.n.Load())/3, "lost")
}

// TestTimeKey: an epoch time key in s, ms, µs or ns is detected (or the
// unit forced); one past 2262 is reported with the key and the raw value,
// and the message's readings take the arrival time, as documented.
func TestTimeKey(t *testing.T) {
	const at = int64(1_795_461_300_123_000_000) // 2026-11-23T19:15:00.123Z
	arrival := time.Unix(1_795_461_301, 0)
	for _, tc := range []struct {
		name, payload, ts string
		want              int64
		err               string
	}{
		{"seconds", "{time_key: ts}", `1795461300.123`, at, ""},
		{"ms", "{time_key: ts}", `1795461300123`, at, ""},
		{"us", "{time_key: ts}", `1795461300123000`, at, ""},
		{"ns", "{time_key: ts}", `1795461300123000000`, at, ""},
		{"ms string", "{time_key: ts, time_unit: ms}", `"1795461300123"`, at, ""},
		{"epoch_ms", "{time_key: ts, time_layout: epoch_ms}", `1795461300123`, at, ""},
		{"1e10 s", "{time_key: ts}", `1e10`, arrival.UnixNano(), "ts time 1e10 in seconds (auto-detected): time outside"},
		{"ms forced s", "{time_key: ts, time_unit: s}", `1795461300123`, arrival.UnixNano(), "ts time 1795461300123 in seconds: time outside"},
		{"past 2262 in us", "{time_key: ts, time_unit: us}", `9300000000000000`, arrival.UnixNano(), "time 9300000000000000 in microseconds"},
		{"layout 2300", "{time_key: ts, time_layout: '2006-01-02 15:04:05'}", `"2300-01-01 00:00:00"`, arrival.UnixNano(), `ts time "2300-01-01 00:00:00": time outside`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := drivertest.MustDecode(t, "mqtt", "topics: [x]\npayload: "+tc.payload+"\n").(*Driver)
			r := drivertest.NewRecorder()
			d.Handle(r, "x", []byte(`{"ts": `+tc.ts+`, "v": 1}`), arrival)
			rs, errs := r.Readings(), r.Errors()
			if len(rs) != 1 || rs[0].Time != tc.want {
				t.Fatalf("readings %+v, want one at %d", rs, tc.want)
			}
			if tc.err == "" && len(errs) != 0 || tc.err != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.err)) {
				t.Fatalf("errors %v, want %q", errs, tc.err)
			}
		})
	}
	if _, err := drivertest.Decode("mqtt", "topics: [x]\npayload: {time_layout: epoch_ms, time_unit: s}\n"); err == nil {
		t.Error("epoch_ms with time_unit s accepted")
	}
	if _, err := drivertest.Decode("mqtt", "topics: [x]\npayload: {time_layout: '2006-01-02', time_unit: ms}\n"); err == nil {
		t.Error("time_unit with a layout accepted")
	}
}
