package hub

import (
	"context"
	"fmt"
	"strings"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// reconcile makes the directory agree with the router's session and
// registration meta API (see Directory.Reconcile).
func (h *Hub) reconcile(ctx context.Context, s *wampx.Session) error {
	// Entries made after the session list was taken may belong to newer
	// sessions; only those known before it are checked against it.
	h.mu.Lock()
	before := h.dir.Sessions()
	h.mu.Unlock()
	live, err := h.liveSessions(ctx, s)
	if err != nil {
		return err
	}
	serving, err := h.servingNodes(ctx, s)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(h.dir.Reconcile(before, live, serving, h.now()), "session gone while the hub was away")
	return nil
}

func (h *Hub) liveSessions(ctx context.Context, c *wampx.Session) (map[uint64]bool, error) {
	res, err := c.Call(ctx, string(wamp.MetaProcSessionList), nil, nil, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	live := map[uint64]bool{}
	if len(res.Arguments) > 0 {
		l, _ := wamp.AsList(res.Arguments[0])
		for _, e := range l {
			if id, ok := wamp.AsID(e); ok {
				live[uint64(id)] = true
			}
		}
	}
	return live, nil
}

// servingNodes maps each node name to the session that registered its
// get_data procedure.
func (h *Hub) servingNodes(ctx context.Context, c *wampx.Session) (map[string]uint64, error) {
	res, err := c.Call(ctx, string(wamp.MetaProcRegList), nil, nil, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("listing registrations: %w", err)
	}
	var ids []wamp.ID
	if len(res.Arguments) > 0 {
		if d, ok := wamp.AsDict(res.Arguments[0]); ok {
			l, _ := wamp.AsList(d["exact"])
			for _, e := range l {
				if id, ok := wamp.AsID(e); ok {
					ids = append(ids, id)
				}
			}
		}
	}
	prefix, suffix := h.names.ConsumerPrefix(), ".get_data"
	found := map[string]uint64{}
	for _, id := range ids {
		// A call on a cancelled context still waits for the router to
		// confirm the cancellation, so stop here rather than per call.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := c.Call(ctx, string(wamp.MetaProcRegGet), nil, wamp.List{id}, nil, nil)
		if err != nil || len(res.Arguments) == 0 {
			continue // unregistered meanwhile
		}
		d, _ := wamp.AsDict(res.Arguments[0])
		uri, _ := wamp.AsString(d["uri"])
		if !strings.HasPrefix(uri, prefix) || !strings.HasSuffix(uri, suffix) {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(uri, prefix), suffix)
		if !protocol.ValidNodeName(name) {
			continue
		}
		res, err = c.Call(ctx, string(wamp.MetaProcRegListCallees), nil, wamp.List{id}, nil, nil)
		if err != nil || len(res.Arguments) == 0 {
			continue
		}
		l, _ := wamp.AsList(res.Arguments[0])
		if len(l) == 0 {
			continue
		}
		if sid, ok := wamp.AsID(l[0]); ok {
			found[name] = uint64(sid)
		}
	}
	return found, nil
}
