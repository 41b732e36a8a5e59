package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

func TestMetaToWire(t *testing.T) {
	metas := []FieldMeta{
		{Name: "b", Units: "K", Type: protocol.TypeNumber, Timeline: "tl"},
		{Name: "a", Description: "first", Type: protocol.TypeNumber, Timeline: "tl", Interval: int64(2 * time.Second)},
		{Name: "c", Type: protocol.TypeString, Timeline: "c"},
	}
	if got, want := metas[0].Info(), (protocol.FieldInfo{Units: protocol.Ptr("K"), Type: protocol.TypeNumber, Timeline: "tl"}); !reflect.DeepEqual(got, want) {
		t.Errorf("Info = %+v, want %+v", got, want)
	}
	want := map[string]protocol.TimelineInfo{
		"tl": {Interval: protocol.Ptr(2.0), Fields: []string{"a", "b"}},
		"c":  {Fields: []string{"c"}},
	}
	if got := Timelines(metas); !reflect.DeepEqual(got, want) {
		t.Errorf("Timelines = %+v, want %+v", got, want)
	}
}
