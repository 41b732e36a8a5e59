package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormatValueMatchesDashboard checks the CLI's numbers against the
// dashboard's golden file, so that get, tail and the web page agree.
func TestFormatValueMatchesDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "consumers", "web", "testdata", "numbers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases [][2]any
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		v, want := c[0].(float64), c[1].(string)
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %q, want %q (as the dashboard prints it)", v, got, want)
		}
	}
}

// TestTailTableAligned wants tail's streamed table columns to line up
// from the header through every row, as get's do.
func TestTailTableAligned(t *testing.T) {
	var b strings.Builder
	tb := newStreamTable([]string{"time", "temperature", "co2"})
	tb.write(&b, true, [][]string{{formatTime(1795456800), formatValue(21.456789), formatValue(412.3333333)}})
	tb.write(&b, false, [][]string{{formatTime(1795456801.5), formatValue(-0.00012345678), formatValue(1e9)}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines:\n%s", b.String())
	}
	col := func(line string, i int) int {
		fs := strings.Fields(line)
		return strings.Index(line, fs[i])
	}
	for i := 1; i < 3; i++ {
		for _, l := range lines[1:] {
			if col(l, i) != col(lines[0], i) {
				t.Errorf("column %d not aligned:\n%s", i, b.String())
			}
		}
	}
	if strings.Contains(b.String(), "\t") {
		t.Errorf("tabs in table:\n%s", b.String())
	}
}

// TestDurationFlags wants d and w in every duration flag and a bad value
// (or any flag the parser refuses) answered with one line, not the help.
func TestDurationFlags(t *testing.T) {
	url, _ := consumerStack(t)
	var out syncBuffer
	if stderr, err := runCtx(context.Background(), &out, "get", "--url", url, "demo", "temp", "--since", "7d", "--format", "csv"); err != nil {
		t.Fatalf("get --since 7d: %v\n%s", err, stderr)
	}
	for _, args := range [][]string{
		{"get", "--url", url, "demo", "temp", "--since", "7x"},
		{"get", "--url", url, "demo", "temp", "--max-points", "abc"},
		{"nodes", "--url", url, "--timeout", "2"},
		{"healthcheck", "--timeout", "soon"},
	} {
		var out syncBuffer
		stderr, err := runCtx(context.Background(), &out, args...)
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		if strings.Contains(out.String()+stderr, "USAGE") || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%v: want one line, got %q (stdout %q, stderr %q)", args, err, out.String(), stderr)
		}
		if !strings.Contains(err.Error(), "--") {
			t.Errorf("%v: error does not name the flag: %v", args, err)
		}
	}
	for _, w := range []string{"2w", "1d12h"} {
		var out syncBuffer
		if _, err := runCtx(context.Background(), &out, "get", "--url", url, "demo", "temp", "--since", w); err != nil {
			t.Errorf("--since %s: %v", w, err)
		}
	}
}
