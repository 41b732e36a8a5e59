package protocol

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestNames(t *testing.T) {
	s := SisockNames()
	for _, tc := range []struct{ got, want string }{
		{s.DataNodeAdd(), "org.simonsobservatory.data_node.add"},
		{s.DataNodeSubtract(), "org.simonsobservatory.data_node.subtract"},
		{s.GetDataNode(), "org.simonsobservatory.consumer.get_data_node"},
		{s.DataNodeAdded(), "org.simonsobservatory.consumer.data_node_added"},
		{s.DataNodeSubtracted(), "org.simonsobservatory.consumer.data_node_subtracted"},
		{s.GetFields("apex"), "org.simonsobservatory.consumer.apex.get_fields"},
		{s.GetData("apex"), "org.simonsobservatory.consumer.apex.get_data"},
		{DefaultNames().Data("r1"), "telemesh.consumer.r1.data"},
		{DefaultNames().HubReady(), "telemesh.hub.ready"},
		{DefaultNames().ListNodes(), "telemesh.consumer.list_nodes"},
		{DefaultNames().ErrorURI(TooMuchData), "telemesh.error.too_much_data"},
		{s.Realm, "test_realm"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if _, err := Profile("nope"); err == nil {
		t.Error("unknown profile accepted")
	}
}

func TestValidNames(t *testing.T) {
	for _, tc := range []struct {
		s           string
		node, field bool
	}{
		{"reactor-1", true, true},
		{"a_b", true, true},
		{"temp.c", false, true},
		{"ch:01", false, true},
		{"", false, false},
		{"has space", false, false},
		{"x/y", false, false},
		{string(make([]byte, 65)), false, false},
	} {
		if got := ValidNodeName(tc.s); got != tc.node {
			t.Errorf("ValidNodeName(%q) = %v", tc.s, got)
		}
		if got := ValidFieldName(tc.s); got != tc.field {
			t.Errorf("ValidFieldName(%q) = %v", tc.s, got)
		}
	}
	if err := CheckNodeName("a b"); KindOf(err) != InvalidArgument {
		t.Errorf("CheckNodeName: %v", err)
	}
}

func TestResolveTime(t *testing.T) {
	now := time.Unix(1_700_000_000, 500_000_000)
	for _, tc := range []struct{ in, want float64 }{
		{0, 1_700_000_000.5},
		{-60, 1_699_999_940.5},
		{1, 1},
		{1_600_000_000.25, 1_600_000_000.25},
	} {
		if got := ResolveTime(tc.in, now); got != tc.want {
			t.Errorf("ResolveTime(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := FromNanos(1_700_000_000_500_000_000); got != 1_700_000_000.5 {
		t.Errorf("FromNanos = %v", got)
	}
}

func TestErrors(t *testing.T) {
	err := fmt.Errorf("get_data: %w", Errorf(UnknownField, "no field %q", "x"))
	if KindOf(err) != UnknownField || !IsKind(err, UnknownField) {
		t.Fatalf("KindOf = %v", KindOf(err))
	}
	if !errors.Is(err, &Error{Kind: UnknownField}) {
		t.Error("errors.Is by kind failed")
	}
	if errors.Is(err, &Error{Kind: TooMuchData}) {
		t.Error("errors.Is matched the wrong kind")
	}
	if KindOf(errors.New("x")) != Internal {
		t.Error("plain error is not Internal")
	}
	n := DefaultNames()
	for _, k := range Kinds {
		got, ok := KindFromURI(n, n.ErrorURI(k))
		if !ok || got != k {
			t.Errorf("KindFromURI(%s) = %v %v", k, got, ok)
		}
	}
	if _, ok := KindFromURI(n, "wamp.error.not_authorized"); ok {
		t.Error("router URI mapped to a protocol kind")
	}
}

func TestWire(t *testing.T) {
	tl := TimelineInfo{Interval: Ptr(1.0), Fields: []string{"a"}}.Wire()
	if tl["interval"] != 1.0 || len(tl["field"].([]string)) != 1 || len(tl["fields"].([]string)) != 1 {
		t.Errorf("timeline wire = %v", tl)
	}
	if tl := (TimelineInfo{}).Wire(); tl["interval"] != nil || tl["field"] == nil {
		t.Errorf("aperiodic timeline wire = %v", tl)
	}
	f := FieldInfo{Timeline: "t"}.Wire()
	if f["type"] != TypeNumber || f["units"] != nil || f["description"] != nil {
		t.Errorf("field wire = %v", f)
	}
}
