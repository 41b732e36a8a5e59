package hub

import (
	"context"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
)

// TestOnLeavePayloads feeds the leave handler the payloads routers send:
// nexus and the spec send [session, authid, authrole], crossbar 19 sent
// the session alone; malformed ones are ignored.
func TestOnLeavePayloads(t *testing.T) {
	tests := []struct {
		name string
		args wamp.List
		gone bool
	}{
		{"nexus", wamp.List{wamp.ID(7), "node1", "datanode"}, true},
		{"crossbar 19", wamp.List{uint64(7)}, true},
		{"session dict", wamp.List{wamp.Dict{"session": 7}}, true},
		{"float id from JSON", wamp.List{7.0}, true},
		{"other session", wamp.List{wamp.ID(8), "x", "y"}, false},
		{"empty", wamp.List{}, false},
		{"not an id", wamp.List{"seven"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := New(Config{Names: protocol.DefaultNames(), Dial: func(ctx context.Context) (*client.Client, error) { return nil, nil }})
			if err != nil {
				t.Fatal(err)
			}
			h.dir.Add(Announce{Name: "n", Session: 7}, time.Now(), nil)
			h.onLeave(&wamp.Event{Arguments: tc.args})
			if _, ok := h.dir.Holder("n"); ok == tc.gone {
				t.Errorf("node present = %v after %v", ok, tc.args)
			}
		})
	}
}
