package datanodes

import (
	"context"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/protocol"
)

// TestHandlersWithoutRouter calls get_fields and get_data as plain
// functions, on a node that never dials, with an injected clock: request
// times relative to now and finalized_until follow that clock.
func TestHandlersWithoutRouter(t *testing.T) {
	n := clockNode(t, time.Unix(t0+100, 0))
	s := n.Sink()
	s.Declare(driver.Field{Name: "a", Units: "V"})
	for i := range 100 {
		s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + float64(i)), Value: float64(i)})
	}
	ctx := context.Background()

	res, err := n.getFields(ctx, wamp.List{1, 0}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := wamp.AsList(res[0])
	fields, _ := wamp.AsDict(pair[0])
	if _, ok := fields["a"]; !ok || len(fields) != 1 {
		t.Errorf("get_fields = %v", res)
	}

	// The last 10 s by the node's clock: readings 90..99.
	res, err = n.getData(ctx, wamp.List{wamp.List{"a"}, -10, 0}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := protocol.DecodeDataResult(res[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Data["a"]; got.Len() != 10 || got.Nums[0] != 90.0 {
		t.Errorf("get_data(-10, 0) by the node's clock = %v", got)
	}
	// Everything older than one flush interval (1 s) before the clock is final.
	if fin := r.Timeline["a"].FinalizedUntil; fin == nil || *fin != float64(t0+99) {
		t.Errorf("finalized_until = %v, want %d", fin, t0+99)
	}

	// Errors come back as errors; progressive results need a progress func.
	if _, err := n.getData(ctx, wamp.List{wamp.List{"nosuch"}, 1, 0}, nil, nil); !protocol.IsKind(err, protocol.UnknownField) {
		t.Errorf("unknown field: %v", err)
	}
}
