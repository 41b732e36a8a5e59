package all_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

// TestTimesEndToEnd feeds a file driver, in a node on a router with a
// SQLite store, the times of issue 13.4 and checks what consumers see
// through get_data and the live topic: a time past 2262 and one a year
// ahead are refused (counted), millisecond and microsecond epochs are
// stored at their dates, and a reading re-emitted inside a span a reply
// called final does not change it. Every get_data calls its field's data
// in [start, min(end, now - flush_interval)) final; the flush interval
// (10s) keeps the present-day readings out of the spans the test's own
// polling calls final, however slow the machine.
func TestTimesEndToEnd(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	dir := t.TempDir()
	csv := filepath.Join(dir, "v.csv")
	if err := os.WriteFile(csv, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("name: n1\nrouter: {url: %q, realm: %s}\ndata_dir: %q\nlive: {interval: 20ms}\nstore: {flush_interval: 10s}\n"+
		"drivers:\n  - {type: file, paths: [%q], delimiter: ',', columns: [{column: 1, field: v}], poll: 20ms}\n",
		url, protocol.DefaultRealm, dir, csv)
	path := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := datanodes.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := wampx.Config{URL: url, Realm: protocol.DefaultRealm, Timeout: 5 * time.Second}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(dir, "n1.db"), sqlite.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	node, err := datanodes.New(cfg, d, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, node.Run, nil)
	names := protocol.DefaultNames()
	call := dial(t, url)
	t.Cleanup(func() { call.Close() })

	getData := func(start, end float64) *protocol.DataResult {
		res, err := call.Call(context.Background(), names.GetData("n1"), nil, wamp.List{[]string{"v"}, start, end}, nil, nil)
		if err != nil {
			return nil
		}
		dr, err := protocol.DecodeDataResult(res.Arguments[0])
		if err != nil {
			t.Fatal(err)
		}
		return dr
	}
	// at returns the values of v stored at time s (seconds).
	at := func(s float64) []float64 {
		dr := getData(s, s+1e-6)
		if dr == nil {
			return nil
		}
		return dr.Data["v"].Nums
	}
	var mu sync.Mutex
	var live []float64
	testutil.Eventually(t, 10*time.Second, "get_fields", func() bool {
		_, err := call.Call(context.Background(), names.GetFields("n1"), nil, wamp.List{1, 0}, nil, nil)
		return err == nil
	})
	err = call.Subscribe(names.Data("n1"), func(ev *wamp.Event) {
		if dr, err := protocol.DecodeDataResult(ev.Arguments[0]); err == nil {
			for _, tl := range dr.Timeline {
				mu.Lock()
				live = append(live, tl.T...)
				mu.Unlock()
			}
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendRow := func(t *testing.T, row string) {
		t.Helper()
		f, err := os.OpenFile(csv, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(row + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	// refused appends a row and waits until the node counts it refused.
	refused := func(t *testing.T, row string) {
		t.Helper()
		before := node.Stats().SinkErrors
		appendRow(t, row)
		testutil.Eventually(t, 10*time.Second, "the row "+row+" refused", func() bool { return node.Stats().SinkErrors > before })
	}
	now := time.Now().Truncate(time.Millisecond)
	nowS := float64(now.UnixMilli()) / 1e3

	t.Run("re-emitted inside a finalized span", func(t *testing.T) {
		old := nowS - 60
		appendRow(t, fmt.Sprintf("%.3f,103", old))
		testutil.Eventually(t, 10*time.Second, "the old reading", func() bool { return len(at(old)) == 1 })
		dr := getData(old-1, nowS-30)
		if fin := dr.Timeline["v"].FinalizedUntil; fin == nil || *fin < old {
			t.Fatalf("finalized_until %v does not cover %v", fin, old)
		}
		refused(t, fmt.Sprintf("%.3f,999", old))
		if v := at(old); len(v) != 1 || v[0] != 103 {
			t.Fatalf("value called final changed: %v", v)
		}
	})
	t.Run("ms epoch", func(t *testing.T) {
		appendRow(t, fmt.Sprintf("%d,2", now.UnixMilli()))
		testutil.Eventually(t, 10*time.Second, "the ms reading at its date", func() bool { return len(at(nowS)) == 1 })
	})
	t.Run("us epoch", func(t *testing.T) {
		appendRow(t, fmt.Sprintf("%d,3", now.Add(time.Millisecond).UnixMicro()))
		testutil.Eventually(t, 10*time.Second, "the µs reading at its date", func() bool { return len(at(nowS+0.001)) == 1 })
	})
	t.Run("beyond 2262", func(t *testing.T) {
		refused(t, "10000000000,4") // 2286: wrapped to 1702 before
		refused(t, "20000000000,4") // 2603: wrapped to 2019 before, and was stored
		if dr := getData(1, 0); dr == nil || dr.Data["v"].Len() != 3 {
			t.Fatalf("stored after a time past 2262: %+v", dr)
		}
	})
	t.Run("a year ahead", func(t *testing.T) {
		ahead := now.AddDate(1, 0, 0)
		refused(t, fmt.Sprintf("%d,5", ahead.Unix()))
		if v := at(float64(ahead.Unix())); len(v) != 0 {
			t.Fatalf("a reading a year ahead was stored: %v", v)
		}
	})
	// Let a live batch go out, then check that none carried a refused time.
	appendRow(t, fmt.Sprintf("%d,6", time.Now().UnixMilli()))
	testutil.Eventually(t, 10*time.Second, "a live batch", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(live) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	for _, ts := range live {
		if ts > protocol.FromTime(time.Now().Add(time.Minute)) {
			t.Errorf("live topic carried a reading at %v", ts)
		}
	}
}
