package all_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/datanodes"
	_ "github.com/telemesh/telemesh/datanodes/driver/all"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

// e2eCase runs one driver in a real node and checks what consumers see.
type e2eCase struct {
	name string
	// block is the driver's YAML block (list item under drivers:), given
	// the router URL and a scratch folder.
	block    func(t *testing.T, url, dir string) string
	field    string
	units    string
	interval float64 // of the field's timeline; 0 means null
	// start and end bound get_data; zero means the last minute.
	start, end float64
	// live: the readings are recent, so they appear on the live topic.
	live bool
	// feed makes the source produce a reading, called until one is stored.
	feed func(t *testing.T, url string)
}

func TestDriversEndToEnd(t *testing.T) {
	var mqttURL string
	cases := []e2eCase{
		{name: "hwmon", field: "coretemp.Core_0", units: "C", interval: 0.05, live: true,
			block: func(t *testing.T, _, _ string) string {
				abs, _ := filepath.Abs("../hwmon/testdata/desktop")
				return fmt.Sprintf("{type: hwmon, root: %q, interval: 50ms}", abs)
			}},
		{name: "exec", field: "x.v", units: "V", interval: 0.05, live: true,
			block: func(*testing.T, string, string) string {
				return "{type: exec, command: [sh, -c, 'echo v=1.5'], interval: 50ms, prefix: x., fields: {v: {units: V}}}"
			}},
		{name: "file radiometer", field: "pwv", units: "mm", interval: 60.48,
			start: 1514764800, end: 1577836800, // 2018 and 2019
			block: func(*testing.T, string, string) string {
				abs, _ := filepath.Abs("../file/testdata/radiometer")
				return fmt.Sprintf("{type: file, preset: ucsc_radiometer, paths: [%q], poll: 50ms}", abs+"/PWV_UCSC_*.txt")
			}},
		{name: "file csv", field: "station.temp", units: "C", interval: 1, live: true,
			block: func(t *testing.T, _, dir string) string {
				path := filepath.Join(dir, "station.csv")
				rows := fmt.Sprintf("%d,21.5\n", time.Now().Unix())
				if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("{type: file, paths: [%q], delimiter: ',', columns: [{column: 1, field: station.temp, units: C}], timeline: station, interval: 1s, poll: 50ms}", path)
			}},
		{name: "wampfeed", field: "channel_01_r", live: true,
			block: func(_ *testing.T, url, _ string) string {
				return fmt.Sprintf("{type: wampfeed, router: {url: %q, realm: %s, serializer: json}}", url, protocol.DefaultRealm)
			},
			feed: func(t *testing.T, url string) {
				c := dial(t, url)
				defer c.Close()
				msg := wamp.Dict{"temps": wamp.Dict{"block_name": "temps",
					"timestamps": []any{protocol.FromTime(time.Now())}, "data": wamp.Dict{"Channel 01 R": []any{1.25}}}}
				// OCS's shape: one argument, the pair (message, feed_data).
				c.Publish("observatory.agent1.feeds.temperatures", nil, wamp.List{wamp.List{msg, wamp.Dict{"agent_address": "observatory.agent1", "feed_name": "temperatures", "record": true}}}, nil)
			}},
		{name: "mqtt", field: "pi1.scd30.co2", units: "ppm", interval: 10, live: true,
			block: func(t *testing.T, _, _ string) string {
				mqttURL = testutil.StartMosquitto(t).URL()
				return fmt.Sprintf("{type: mqtt, preset: simoc_sam, broker: %q, topics: ['sam/#']}", mqttURL)
			},
			feed: func(t *testing.T, _ string) {
				c := paho.NewClient(paho.NewClientOptions().AddBroker(mqttURL).SetClientID(fmt.Sprint("e2e", time.Now().UnixNano())))
				if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					t.Fatalf("mqtt connect: %v", tok.Error())
				}
				defer c.Disconnect(50)
				b, _ := json.Marshal(map[string]any{"co2": 612.5, "timestamp": time.Now().Format("2006-01-02 15:04:05.000000"), "n": 1})
				c.Publish("sam/pi1/scd30", 1, false, b).WaitTimeout(5 * time.Second)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runCase(t, tc) })
	}
}

func dial(t *testing.T, url string) *client.Client {
	t.Helper()
	d, err := wampx.Config{URL: url, Realm: protocol.DefaultRealm, Timeout: 5 * time.Second}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runCase(t *testing.T, tc e2eCase) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	dir := t.TempDir()
	conf := fmt.Sprintf("name: n1\ndescription: end-to-end\nrouter: {url: %q, realm: %s}\ndata_dir: %q\nlive: {interval: 50ms}\ndrivers:\n  - %s\n",
		url, protocol.DefaultRealm, dir, tc.block(t, url, dir))
	path := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := datanodes.LoadConfig(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, conf)
	}
	d, err := wampx.Config{URL: url, Realm: protocol.DefaultRealm, Timeout: 5 * time.Second}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	node, err := datanodes.New(cfg, d, memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, node.Run, nil)
	names := protocol.DefaultNames()
	call := dial(t, url)
	t.Cleanup(func() { call.Close() })

	var mu sync.Mutex
	var liveSeen bool
	liveCh := make(chan struct{})
	subscribe := func() error {
		return call.Subscribe(names.Data("n1"), func(ev *wamp.Event) {
			if len(ev.Arguments) == 0 {
				return
			}
			dr, err := protocol.DecodeDataResult(ev.Arguments[0])
			if err != nil || dr.Data[tc.field].Len() == 0 {
				return
			}
			mu.Lock()
			if !liveSeen {
				liveSeen = true
				close(liveCh)
			}
			mu.Unlock()
		}, nil)
	}
	deadline := time.Now().Add(20 * time.Second)
	// Wait until the node serves get_fields, then subscribe to its live topic.
	for {
		_, err := call.Call(context.Background(), names.GetFields("n1"), nil, wamp.List{1, 0}, nil, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("get_fields never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := subscribe(); err != nil {
		t.Fatal(err)
	}

	var got *protocol.DataResult
	for {
		if tc.feed != nil {
			tc.feed(t, url)
		}
		start, end := tc.start, tc.end
		if start == 0 {
			start, end = -60, 0
		}
		res, err := call.Call(context.Background(), names.GetData("n1"), nil, wamp.List{[]string{tc.field}, start, end}, nil, nil)
		if err == nil && len(res.Arguments) > 0 {
			if dr, err := protocol.DecodeDataResult(res.Arguments[0]); err == nil && dr.Data[tc.field].Len() > 0 {
				got = dr
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no readings of %s in get_data (last error %v)", tc.field, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for tl, td := range got.Timeline {
		if len(td.T) != got.Data[tc.field].Len() {
			t.Errorf("timeline %s has %d times for %d values", tl, len(td.T), got.Data[tc.field].Len())
		}
	}

	res, err := call.Call(context.Background(), names.GetFields("n1"), nil, wamp.List{1, 0}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := wamp.AsList(res.Arguments[0])
	fields, err := protocol.DecodeFieldMap(pair[0])
	if err != nil {
		t.Fatal(err)
	}
	timelines, err := protocol.DecodeTimelineMap(pair[1])
	if err != nil {
		t.Fatal(err)
	}
	f, ok := fields[tc.field]
	if !ok {
		t.Fatalf("get_fields lacks %s: %v", tc.field, fields)
	}
	units := ""
	if f.Units != nil {
		units = *f.Units
	}
	if units != tc.units {
		t.Errorf("units of %s = %q, want %q", tc.field, units, tc.units)
	}
	tl, ok := timelines[f.Timeline]
	if !ok {
		t.Fatalf("timeline %q of %s missing: %v", f.Timeline, tc.field, timelines)
	}
	switch {
	case tc.interval == 0 && tl.Interval != nil:
		t.Errorf("interval of %s = %v, want null", f.Timeline, *tl.Interval)
	case tc.interval != 0 && (tl.Interval == nil || *tl.Interval != tc.interval):
		t.Errorf("interval of %s = %v, want %v", f.Timeline, tl.Interval, tc.interval)
	}

	if tc.live {
		for {
			select {
			case <-liveCh:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no live batch with %s on %s", tc.field, names.Data("n1"))
			}
			if tc.feed != nil {
				tc.feed(t, url)
			}
		}
	}
}
