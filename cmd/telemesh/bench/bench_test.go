package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/internal/testutil"
)

func TestRunSmall(t *testing.T) {
	res, err := Run(context.Background(), Config{
		OpenStore: func() (store.Store, error) { return memstore.New(), nil },
		Days:      0.05, Fields: 3, MaxPoints: 100, LiveReadings: 3000, HubNodes: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Result{}
	for _, r := range res {
		names[r.Name] = r
		if r.Value <= 0 {
			t.Errorf("%s: %v", r.Name, r.Value)
		}
	}
	if len(res) < 7 {
		t.Fatalf("%d results: %+v", len(res), res)
	}
	if l := names["live readings delivered"]; l.Note != "zero loss" {
		t.Errorf("live: %+v", l)
	}
	if r := names["get_data 1 field, 0.05 days raw (progressive)"]; !strings.Contains(r.Note, "4320 points") {
		t.Errorf("raw day: %+v", r)
	}
}

// TestRunBesideVM runs a small bench with VictoriaMetrics beside it: every
// figure carries VM's value and the ratio.
func TestRunBesideVM(t *testing.T) {
	vm := testutil.Need(t, "victoria-metrics")
	res, err := Run(context.Background(), Config{
		OpenStore: func() (store.Store, error) { return memstore.New(), nil },
		Days:      0.05, Fields: 10, MaxPoints: 100, LiveReadings: 1000, VM: vm,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range res {
		if strings.Contains(r.Note, "VictoriaMetrics") {
			n++
			if !strings.Contains(r.Note, "ratio") {
				t.Errorf("%s: %s", r.Name, r.Note)
			}
		}
	}
	if n < 5 { // ingest per CPU, four queries, memory
		t.Errorf("%d figures beside VictoriaMetrics: %+v", n, res)
	}
}
