package hub

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// step is one operation on a directory and what it must answer.
type step struct {
	op string // add, subtract, leave, reconcile, expire, restore
	a  Announce
	// records are restore's.
	records map[string]Record
	// gone lists the sessions the router reports ended (add); live and
	// serving feed reconcile; sid is subtract's and leave's session.
	gone    []uint64
	live    []uint64
	serving map[string]uint64
	sid     uint64
	name    string
	at      time.Duration // since the test's start
	// want is the answer ("true", "false" or an error's kind), events the
	// events as "+name" and "-name", list the names and sessions listed
	// afterwards as "name@session".
	want   string
	events string
	list   string
	// descs, when set, are the descriptions listed afterwards as
	// "name=description".
	descs string
}

func ann(name string, sid uint64, authid, role string) Announce {
	return Announce{Name: name, Description: name + " node", Session: sid, AuthID: authid, AuthRole: role}
}

func withFields(a Announce, fields ...string) Announce {
	a.Fields, a.HasFields = map[string]protocol.FieldInfo{}, true
	for _, f := range fields {
		a.Fields[f] = protocol.FieldInfo{Timeline: f, Type: protocol.TypeNumber}
	}
	return a
}

func withDescription(a Announce, d string) Announce { a.Description = d; return a }

func TestDirectory(t *testing.T) {
	hubAnyName := NamePolicy{AnyNameRoles: []string{protocol.RoleHub}, Names: map[string][]string{"gateway": {"plc1", "plc2"}}}
	tests := []struct {
		name   string
		policy NamePolicy
		grace  time.Duration
		steps  []step
	}{
		{"add, repeat, update", DefaultNamePolicy, 0, []step{
			{op: "add", a: ann("n1", 1, "n1", "datanode"), want: "true", events: "+n1", list: "n1@1"},
			// sisock's hub answers false to a repetition that changes nothing.
			{op: "add", a: ann("n1", 1, "n1", "datanode"), want: "false", list: "n1@1"},
			{op: "add", a: withFields(ann("n1", 1, "n1", "datanode"), "x"), want: "true", list: "n1@1"},
			{op: "add", a: withDescription(ann("n1", 1, "n1", "datanode"), "renamed"), want: "true", events: "+n1", list: "n1@1"},
		}},
		{"name taken by a live session", DefaultNamePolicy, 0, []step{
			{op: "add", a: ann("n1", 1, "n1", "datanode"), want: "true", events: "+n1"},
			{op: "add", a: ann("n1", 2, "n1", "datanode"), want: "false", list: "n1@1"},
			// Once the router reports the holder gone, the node is back on a
			// new session: no subtract and add.
			{op: "add", a: ann("n1", 2, "n1", "datanode"), gone: []uint64{1}, want: "true", list: "n1@2"},
		}},
		{"a datanode cannot take another's name", DefaultNamePolicy, 0, []step{
			{op: "add", a: ann("salted", 1, "salted", "datanode"), want: "true", events: "+salted"},
			{op: "add", a: ann("salted", 2, "node2", "datanode"), want: "not_authorized", list: "salted@1"},
			// Not even once the real node is gone.
			{op: "add", a: ann("salted", 2, "node2", "datanode"), gone: []uint64{1}, want: "not_authorized", list: "salted@1"},
			{op: "add", a: ann("node2", 2, "node2", "datanode"), want: "true", events: "+node2", list: "node2@2 salted@1"},
		}},
		{"names by policy", hubAnyName, 0, []step{
			{op: "add", a: ann("plc1", 1, "gateway", "datanode"), want: "true", events: "+plc1"},
			{op: "add", a: ann("plc3", 1, "gateway", "datanode"), want: "not_authorized"},
			{op: "add", a: ann("relayed", 2, "hub", protocol.RoleHub), want: "true", events: "+relayed"},
			// The default policy does not let the hub role announce any name.
		}},
		{"default policy", DefaultNamePolicy, 0, []step{
			{op: "add", a: ann("relayed", 2, "hub", protocol.RoleHub), want: "not_authorized"},
			{op: "add", a: ann("any", 3, "root", protocol.RoleAdmin), want: "true", events: "+any"},
			{op: "add", a: ann("anon", 4, "3f2a", "anonymous"), want: "true", events: "+anon"},
			// A router that discloses no authid leaves nothing to bind.
			{op: "add", a: ann("legacy", 5, "", ""), want: "true", events: "+legacy", list: "anon@4 any@3 legacy@5"},
		}},
		{"subtract and leave", DefaultNamePolicy, time.Minute, []step{
			{op: "add", a: ann("n1", 1, "n1", "datanode"), want: "true", events: "+n1"},
			{op: "add", a: ann("n2", 2, "n2", "datanode"), want: "true", events: "+n2"},
			{op: "subtract", name: "n1", sid: 2, want: "false", list: "n1@1 n2@2"},
			{op: "subtract", name: "n1", sid: 1, want: "true", events: "-n1", list: "n2@2"},
			// A live departure is not held, grace or not.
			{op: "leave", sid: 2, events: "-n2", list: ""},
			{op: "leave", sid: 2},
		}},
		{"router restart: no flap", DefaultNamePolicy, 15 * time.Second, []step{
			{op: "add", a: withFields(ann("n1", 1, "n1", "datanode"), "x"), want: "true", events: "+n1"},
			{op: "add", a: ann("n2", 2, "n2", "datanode"), want: "true", events: "+n2"},
			// The hub's session comes back; both node sessions died with the
			// router. n2 already serves again on session 12.
			{op: "reconcile", live: []uint64{12}, serving: map[string]uint64{"n2": 12}, at: time.Second, list: "n1@1 n2@12"},
			{op: "add", a: withFields(ann("n1", 11, "n1", "datanode"), "x"), at: 2 * time.Second, want: "true", list: "n1@11 n2@12"},
			{op: "add", a: ann("n2", 12, "n2", "datanode"), at: 2 * time.Second, want: "true", list: "n1@11 n2@12"},
			{op: "expire", at: time.Hour, list: "n1@11 n2@12"},
		}},
		{"router restart: a node that does not come back", DefaultNamePolicy, 15 * time.Second, []step{
			{op: "add", a: ann("n1", 1, "n1", "datanode"), want: "true", events: "+n1"},
			{op: "reconcile", at: time.Second, list: "n1@1"},
			{op: "expire", at: 10 * time.Second, list: "n1@1"},
			{op: "reconcile", at: 12 * time.Second, list: "n1@1"}, // does not restart the hold
			{op: "expire", at: 16 * time.Second, events: "-n1", list: ""},
		}},
		{"no grace", DefaultNamePolicy, 0, []step{
			{op: "add", a: ann("n1", 1, "n1", "datanode"), want: "true", events: "+n1"},
			{op: "reconcile", live: []uint64{11}, serving: map[string]uint64{"n1": 11}, events: "-n1", list: "n1@11"},
			{op: "add", a: ann("n1", 11, "n1", "datanode"), want: "true", events: "+n1", list: "n1@11"},
		}},
		{"hub restart: placeholders announce once", DefaultNamePolicy, 15 * time.Second, []step{
			{op: "reconcile", live: []uint64{1}, serving: map[string]uint64{"n1": 1, "quiet": 2}, list: "n1@1 quiet@2"},
			{op: "add", a: ann("n1", 1, "n1", "datanode"), want: "true", events: "+n1", list: "n1@1 quiet@2"},
			{op: "add", a: ann("n1", 1, "n1", "datanode"), want: "false"},
			// A placeholder never announced leaves without an event.
			{op: "leave", sid: 2, list: "n1@1"},
		}},
		{"hub restart: restored records", DefaultNamePolicy, 15 * time.Second, []step{
			// What the previous hub saved: quiet (a sisock node, announced
			// once) still serves on its session; moved serves on another
			// session (a different node now); stale serves nowhere.
			{op: "restore", records: map[string]Record{
				"quiet": {Description: "lm-sensors", Session: 2, AuthID: "quiet"},
				"moved": {Description: "old", Session: 4},
				"stale": {Description: "gone", Session: 3},
			}},
			{op: "reconcile", live: []uint64{2, 5}, serving: map[string]uint64{"quiet": 2, "moved": 5}, list: "moved@5 quiet@2", descs: "moved= quiet=lm-sensors"},
			// quiet counts as announced: a repetition changes nothing, and
			// its leave is published.
			{op: "add", a: withDescription(ann("quiet", 2, "quiet", "datanode"), "lm-sensors"), want: "false"},
			{op: "leave", sid: 2, events: "-quiet", list: "moved@5"},
			{op: "add", a: ann("moved", 5, "moved", "datanode"), want: "true", events: "+moved", descs: "moved=moved node"},
			// Records apply to the first reconciliation only.
			{op: "restore", records: map[string]Record{"late": {Description: "late", Session: 6}}},
			{op: "reconcile", live: []uint64{5}, serving: map[string]uint64{"moved": 5}, list: "moved@5"},
			{op: "reconcile", live: []uint64{5, 6}, serving: map[string]uint64{"moved": 5, "late": 6}, descs: "late= moved=moved node"},
		}},
	}
	start := time.Unix(1_800_000_000, 0)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDirectory(tc.policy, tc.grace)
			for i, s := range tc.steps {
				now := start.Add(s.at)
				var ev []Event
				got := ""
				switch s.op {
				case "add":
					gone := func(sid uint64) bool {
						for _, g := range s.gone {
							if g == sid {
								return true
							}
						}
						return false
					}
					ok, e, err := d.Add(s.a, now, gone)
					ev, got = e, fmt.Sprint(ok)
					if err != nil {
						got = string(protocol.KindOf(err))
						if len(e) != 0 || ok {
							t.Errorf("step %d: refused add returned %v, %v", i, ok, e)
						}
					}
				case "subtract":
					var ok bool
					ok, ev = d.Subtract(s.name, s.sid)
					got = fmt.Sprint(ok)
				case "leave":
					ev = d.Leave(s.sid)
				case "reconcile":
					live := map[uint64]bool{}
					for _, l := range s.live {
						live[l] = true
					}
					ev = d.Reconcile(d.Sessions(), live, s.serving, now)
				case "expire":
					ev = d.Expire(now)
				case "restore":
					d.Restore(s.records)
				}
				if got != s.want {
					t.Errorf("step %d (%s %s): answered %q, want %q", i, s.op, s.a.Name, got, s.want)
				}
				if e := eventString(ev); e != s.events {
					t.Errorf("step %d (%s %s): events %q, want %q", i, s.op, s.a.Name, e, s.events)
				}
				if s.list != "" || s.op == "leave" && s.events != "" {
					if l := listString(d.List()); l != s.list {
						t.Errorf("step %d (%s %s): lists %q, want %q", i, s.op, s.a.Name, l, s.list)
					}
				}
				if s.descs != "" {
					var descs []string
					for _, n := range d.List() {
						descs = append(descs, n.Name+"="+n.Description)
					}
					if got := strings.Join(descs, " "); got != s.descs {
						t.Errorf("step %d (%s %s): descriptions %q, want %q", i, s.op, s.a.Name, got, s.descs)
					}
				}
			}
		})
	}
}

func eventString(ev []Event) string {
	var out []string
	for _, e := range ev {
		sign := "+"
		if e.Kind == Subtracted {
			sign = "-"
		}
		out = append(out, sign+e.Node.Name)
	}
	return strings.Join(out, " ")
}

func listString(ns []protocol.NodeInfo) string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("%s@%d", n.Name, n.Session))
	}
	return strings.Join(out, " ")
}

// TestDirectoryKeepsListing checks what a repeated add keeps: fields,
// timelines and meta stay unless the add gives them.
func TestDirectoryKeepsListing(t *testing.T) {
	d := NewDirectory(DefaultNamePolicy, 0)
	now := time.Unix(1_800_000_000, 0)
	a := withFields(ann("n1", 1, "n1", "datanode"), "x", "y")
	a.Meta, a.HasMeta = map[string]any{"version": "1.0"}, true
	d.Add(a, now, nil)
	d.Add(withDescription(ann("n1", 1, "n1", "datanode"), "new"), now.Add(time.Second), nil)
	n := d.List()[0]
	if len(n.Fields) != 2 || n.Meta["version"] != "1.0" || n.Description != "new" {
		t.Errorf("listing after a partial add: %+v", n)
	}
	if n.Joined != protocol.FromTime(now) || n.LastSeen != protocol.FromTime(now.Add(time.Second)) {
		t.Errorf("joined %v, last seen %v", n.Joined, n.LastSeen)
	}
}
