package router

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/wampx"
)

// TestAbortBeforeClose refuses 100 logins over each transport: every one
// gets its ABORT before the connection closes (nexus's transports dropped
// it about one time in twenty).
func TestAbortBeforeClose(t *testing.T) {
	s := startServer(t, testConfig(t))
	for _, ws := range []bool{false, true} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		lost := 0
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var p *rawPeer
				if ws {
					p = rawWS(t, s, "wamp.2.json")
				} else {
					p = rawRS(t, s, 0xf)
				}
				p.send(`[1,"telemesh",{"roles":{"caller":{}},"authmethods":["ticket"],"authid":"hub"}]`)
				if _, err := p.recv(); err != nil { // CHALLENGE
					t.Errorf("login %d: no CHALLENGE: %v", i, err)
					return
				}
				p.send(`[5,"wrong ticket",{}]`)
				if last := p.closed(); errorURI(last) == "" || last[0] != float64(wamp.ABORT) {
					mu.Lock()
					lost++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if lost > 0 {
			t.Errorf("websocket %v: %d of 100 refused logins closed without their ABORT", ws, lost)
		}
	}
}

// TestOversizeToRawSocketPeer checks messages over what a RawSocket client
// announced it accepts: a WELCOME too big becomes an ABORT, a RESULT too
// big an ERROR for the call, an INVOCATION too big an ERROR for its
// caller.
func TestOversizeToRawSocketPeer(t *testing.T) {
	s := startServer(t, testConfig(t))
	can := newCanary(t, s)
	pse := string(errPayloadSize)

	p := rawRS(t, s, 0) // 512 bytes: less than any WELCOME of nexus
	p.send(helloJSON)
	if v := p.closed(); errorURI(v) != pse {
		t.Errorf("WELCOME over 512 bytes: got %v, want ABORT %s", v, pse)
	}

	p = rawRS(t, s, 7) // 64 KiB
	p.join()
	big := strings.Repeat("x", 100<<10)
	p.send(fmt.Sprintf(`[48,7,{},%q,[%q]]`, can.proc, big))
	v := p.expect(wamp.ERROR)
	if errorURI(v) != pse || v[2] != float64(7) {
		t.Errorf("RESULT over 64 KiB: got %.200v, want ERROR %s for request 7", v, pse)
	}
	p.send(fmt.Sprintf(`[48,8,{},%q,["small"]]`, can.proc))
	if v := p.expect(wamp.RESULT); v[1] != float64(8) {
		t.Errorf("next call: %v", v)
	}

	callee := rawRS(t, s, 7)
	callee.login("node1", nodeTicket)
	callee.send(fmt.Sprintf(`[64,1,{},%q]`, testNames.GetData("node1")))
	callee.expect(wamp.REGISTERED)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := can.c.Call(ctx, testNames.GetData("node1"), nil, wamp.List{big}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), pse) {
		t.Errorf("INVOCATION over the callee's 64 KiB: got %v, want %s", err, pse)
	}
	can.check(t, "oversize messages")
}

// TestInvalidRequests sends requests the WAMP specification makes
// invalid: each gets an ERROR wamp.error.invalid_argument for its request
// (nexus dropped some unanswered and accepted the others) and the session
// goes on.
func TestInvalidRequests(t *testing.T) {
	s := startServer(t, testConfig(t))
	p := rawWS(t, s, "wamp.2.json")
	p.login("node1", nodeTicket)
	proc, topic := testNames.GetData("node1"), testNames.Data("node1")
	tests := []struct{ name, msg string }{
		{"CALL arguments not a list", `[48,%d,{},"` + proc + `",{"a":1}]`},
		{"CALL arguments a string", `[48,%d,{},"` + proc + `","abc"]`},
		{"CALL procedure not a string", `[48,%d,{},42]`},
		{"CALL without a procedure", `[48,%d,{}]`},
		{"CALL with an extra element", `[48,%d,{},"` + proc + `",[],{},"x"]`},
		{"CALL keyword arguments not a dict", `[48,%d,{},"` + proc + `",[],[1]]`},
		{"CALL options not a dict", `[48,%d,[],"` + proc + `"]`},
		{"CALL timeout a string", `[48,%d,{"timeout":"10"},"` + proc + `"]`},
		{"CALL timeout negative", `[48,%d,{"timeout":-1},"` + proc + `"]`},
		{"CALL receive_progress not a boolean", `[48,%d,{"receive_progress":1},"` + proc + `"]`},
		{"CALL disclose_me not a boolean", `[48,%d,{"disclose_me":"yes"},"` + proc + `"]`},
		{"REGISTER match unknown", `[64,%d,{"match":"regex"},"` + proc + `"]`},
		{"REGISTER invoke unknown", `[64,%d,{"invoke":"all"},"` + proc + `"]`},
		{"REGISTER disclose_caller not a boolean", `[64,%d,{"disclose_caller":1},"` + proc + `"]`},
		{"SUBSCRIBE match unknown", `[32,%d,{"match":"glob"},"` + topic + `"]`},
		{"SUBSCRIBE match not a string", `[32,%d,{"match":1},"` + topic + `"]`},
		{"SUBSCRIBE get_retained not a boolean", `[32,%d,{"get_retained":"no"},"` + topic + `"]`},
		{"PUBLISH exclude not a list", `[16,%d,{"acknowledge":true,"exclude":5},"` + topic + `"]`},
		{"PUBLISH exclude of strings", `[16,%d,{"acknowledge":true,"exclude":["a"]},"` + topic + `"]`},
		{"PUBLISH eligible_authid of numbers", `[16,%d,{"acknowledge":true,"eligible_authid":[1]},"` + topic + `"]`},
		{"PUBLISH exclude_me not a boolean", `[16,%d,{"acknowledge":true,"exclude_me":"no"},"` + topic + `"]`},
		{"PUBLISH arguments not a list", `[16,%d,{"acknowledge":true},"` + topic + `",{"a":1}]`},
		{"UNSUBSCRIBE subscription not an id", `[34,%d,"sub"]`},
		{"UNREGISTER registration negative", `[66,%d,-1]`},
		{"SUBSCRIBE topic a list", `[32,%d,{},["` + topic + `"]]`},
	}
	for i, tt := range tests {
		req := 100 + i
		p.send(fmt.Sprintf(tt.msg, req))
		v := p.expect(wamp.ERROR)
		if v[2] != float64(req) || errorURI(v) != string(wamp.ErrInvalidArgument) {
			t.Errorf("%s: got %v, want ERROR %s for request %d", tt.name, v, wamp.ErrInvalidArgument, req)
		}
	}
	// Without acknowledge a bad PUBLISH gets no ERROR, which the client
	// would not expect; the next reply is for the next request.
	p.send(`[16,2,{},"` + topic + `",{"a":1}]`)
	p.send(`[16,3,{"exclude":5},"` + topic + `"]`)
	p.send(`[16,1,{"acknowledge":true},"` + topic + `",[1]]`)
	if v := p.expect(wamp.PUBLISHED); v[1] != float64(1) {
		t.Errorf("got %v, want PUBLISHED for request 1", v)
	}
}

// TestProgressWithoutCanceling has a callee that announces progressive
// call results but not call canceling, as autobahn-js does: it gets
// receive_progress and streams, and a canceled call ends without an
// INTERRUPT reaching it.
func TestProgressWithoutCanceling(t *testing.T) {
	s := startServer(t, testConfig(t))
	callee := rawWS(t, s, "wamp.2.json")
	callee.send(`[1,"telemesh",{"roles":{"callee":{"features":{"progressive_call_results":true}}},"authmethods":["ticket"],"authid":"node1"}]`)
	callee.expect(wamp.CHALLENGE)
	callee.send(`[5,"` + nodeTicket + `",{}]`)
	callee.expect(wamp.WELCOME)
	proc := testNames.GetData("node1")
	callee.send(`[64,1,{},"` + proc + `"]`)
	reg := callee.expect(wamp.REGISTERED)[2]

	caller := mustDial(t, wampx.Config{URL: s.WebSocketURL()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type out struct {
		res *wamp.Result
		err error
	}
	done := make(chan out, 1)
	var progress []any
	go func() {
		res, err := caller.Call(ctx, proc, nil, nil, nil, func(r *wamp.Result) { progress = append(progress, r.Arguments...) })
		done <- out{res, err}
	}()
	inv := callee.expect(wamp.INVOCATION)
	if inv[2] != reg {
		t.Fatalf("INVOCATION %v for registration %v", inv, reg)
	}
	if d, _ := inv[3].(map[string]any); d["receive_progress"] != true {
		t.Fatalf("INVOCATION details %v lack receive_progress", inv[3])
	}
	callee.send(fmt.Sprintf(`[70,%v,{"progress":true},[1]]`, inv[1]))
	callee.send(fmt.Sprintf(`[70,%v,{"progress":true},[2]]`, inv[1]))
	callee.send(fmt.Sprintf(`[70,%v,{},[3]]`, inv[1]))
	o := <-done
	if o.err != nil || len(o.res.Arguments) != 1 || fmt.Sprint(progress) != "[1 2]" {
		t.Fatalf("progressive call: result %v, progress %v, err %v", o.res, progress, o.err)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	go func() {
		_, err := caller.Call(cctx, proc, nil, nil, nil, func(*wamp.Result) {})
		done <- out{nil, err}
	}()
	inv = callee.expect(wamp.INVOCATION)
	ccancel()
	o = <-done
	if o.err == nil {
		t.Fatal("canceled call succeeded")
	}
	// The callee's next message must be the next INVOCATION, not an
	// INTERRUPT it never announced support for.
	go caller.Call(ctx, proc, nil, nil, nil, nil)
	if v := callee.expect(wamp.INVOCATION); v[1] == inv[1] {
		t.Errorf("same invocation twice: %v", v)
	}
}
