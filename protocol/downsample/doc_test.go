package downsample

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/telemesh/telemesh/protocol"
)

// TestProtocolDocExamples checks the downsampling examples of
// docs/protocol.md against this package, so the contract and the code
// cannot drift apart.
func TestProtocolDocExamples(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "```downsample-examples\n")
	if !ok {
		t.Fatal("docs/protocol.md has no downsample-examples block")
	}
	block, _, _ = strings.Cut(block, "```")
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		in, want, ok := strings.Cut(line, "=>")
		if !ok {
			t.Fatalf("example %q: no =>", line)
		}
		fs := strings.Fields(in)
		switch fs[0] {
		case "width":
			kv := keys(t, line, fs[1:])
			agg := kv["agg"]
			if agg == "" {
				agg = protocol.AggMean
			}
			w := Width(sec(t, kv["start"]), sec(t, kv["end"]), num(t, kv["min_stride"]), int64(num(t, kv["max_points"])), agg)
			if got := strconv.FormatFloat(float64(w)/1e9, 'f', -1, 64); got != strings.TrimSpace(want) {
				t.Errorf("%s: got %s", line, got)
			}
		case "bucket":
			var opts, samples []string
			for _, f := range fs[1:] {
				if strings.Contains(f, "=") {
					opts = append(opts, f)
				} else {
					samples = append(samples, f)
				}
			}
			kv := keys(t, line, opts)
			times, vals := points(t, samples)
			gt, gv, err := Apply(times, vals, sec(t, kv["w"]), kv["agg"])
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			wt, wv := points(t, strings.Fields(want))
			if !equalSeries(gt, gv, wt, wv) {
				t.Errorf("%s: got %s", line, format(gt, gv))
			}
		default:
			t.Fatalf("example %q: unknown kind %q", line, fs[0])
		}
		n++
	}
	if n < 10 {
		t.Errorf("only %d examples", n)
	}
}

func keys(t *testing.T, line string, fs []string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	for _, f := range fs {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("example %q: %q is not key=value", line, f)
		}
		kv[k] = v
	}
	return kv
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sec(t *testing.T, s string) int64 { return int64(math.Round(num(t, s) * 1e9)) }

// points parses t:v items: v is a number, true, false or a quoted string.
func points(t *testing.T, items []string) ([]int64, protocol.Values) {
	t.Helper()
	var times []int64
	var vals protocol.Values
	for _, it := range items {
		ts, vs, ok := strings.Cut(it, ":")
		if !ok {
			t.Fatalf("point %q: want t:v", it)
		}
		var v protocol.Value
		switch {
		case vs == "true" || vs == "false":
			v = protocol.Bool(vs == "true")
		case strings.HasPrefix(vs, `"`):
			s, err := strconv.Unquote(vs)
			if err != nil {
				t.Fatal(err)
			}
			v = protocol.Str(s)
		default:
			v = protocol.Num(num(t, vs))
		}
		times = append(times, sec(t, ts))
		if err := vals.Append(v); err != nil {
			t.Fatal(err)
		}
	}
	return times, vals
}

func equalSeries(at []int64, av protocol.Values, bt []int64, bv protocol.Values) bool {
	if len(at) != len(bt) || av.Len() != bv.Len() {
		return false
	}
	for i := range at {
		if at[i] != bt[i] || av.At(i) != bv.At(i) {
			return false
		}
	}
	return true
}

func format(times []int64, vals protocol.Values) string {
	var b strings.Builder
	for i, t := range times {
		b.WriteString(strconv.FormatFloat(float64(t)/1e9, 'f', -1, 64) + ":" + toString(vals.At(i)) + " ")
	}
	return b.String()
}

func toString(v protocol.Value) string {
	switch v.Type {
	case protocol.TypeString:
		return strconv.Quote(v.Str)
	case protocol.TypeBool:
		return strconv.FormatBool(v.Bool)
	}
	return strconv.FormatFloat(v.Num, 'g', -1, 64)
}
