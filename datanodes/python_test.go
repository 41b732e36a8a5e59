package datanodes

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// TestSisockPythonClient drives the node with autobahn-python as sisock's
// consumers did: positional and keyword min_stride, the [field, timeline]
// pair, error URIs, and progressive results for a large answer.
func TestSisockPythonClient(t *testing.T) {
	py := testutil.NeedPython(t)
	e := newEnv(t, func(c *Config) { c.MaxReplyBytes = 4096 })
	e.load()
	s := e.node.Sink()
	s.Declare(driver.Field{Name: "big"})
	var rs []protocol.Reading
	for i := range 1000 {
		rs = append(rs, protocol.Reading{Field: "big", Time: sec(t0 + float64(i)), Value: float64(i)})
	}
	s.Emit(rs...)
	out := testutil.Run(t, 60*time.Second, py, "testdata/sisock_client.py", e.url, protocol.DefaultRealm, protocol.DefaultBase, "n1", fmt.Sprint(t0))
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") {
			line = l
		}
	}
	var got struct {
		Fields        []string  `json:"fields"`
		TimelineField []string  `json:"timeline_field"`
		RawA          []float64 `json:"raw_a"`
		RawT          []float64 `json:"raw_t"`
		KwStride      []float64 `json:"kw_stride"`
		PosStride     []float64 `json:"pos_stride"`
		UnknownError  string    `json:"unknown_error"`
		BigError      string    `json:"big_error"`
		BigPoints     int       `json:"big_points"`
		Slices        []int     `json:"slices"`
		Exception     string    `json:"exception"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Exception != "" {
		t.Fatalf("python client: %s", got.Exception)
	}
	if fmt.Sprint(got.Fields) != "[a b big c]" || fmt.Sprint(got.TimelineField) != "[a b]" {
		t.Errorf("get_fields: %v %v", got.Fields, got.TimelineField)
	}
	if len(got.RawA) != 10 || got.RawT[0] != t0 {
		t.Errorf("raw: %v %v", got.RawA, got.RawT)
	}
	if fmt.Sprint(got.KwStride) != "[0.5 2.5 4.5 6.5 8.5]" || fmt.Sprint(got.PosStride) != fmt.Sprint(got.KwStride) {
		t.Errorf("min_stride: kw %v pos %v", got.KwStride, got.PosStride)
	}
	if got.UnknownError != "telemesh.error.unknown_field" || got.BigError != "telemesh.error.too_much_data" || got.BigPoints != 1000 {
		t.Errorf("errors: %q %q %d", got.UnknownError, got.BigError, got.BigPoints)
	}
	total := 0
	for _, n := range got.Slices {
		total += n
		if n > 4096/BytesPerPoint {
			t.Errorf("slice of %d points", n)
		}
	}
	if total != 1000 || len(got.Slices) < 10 {
		t.Errorf("progressive slices %v (total %d)", got.Slices, total)
	}
}
