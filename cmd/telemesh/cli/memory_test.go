package cli

import (
	"math"
	"os"
	"strings"
	"testing"
)

// TestMain keeps the commands the tests run from setting this process's
// memory limit and GC target: the environment wins over the flags, which
// are still checked.
func TestMain(m *testing.M) {
	os.Setenv("GOMEMLIMIT", "off")
	os.Setenv("GOGC", "100")
	os.Exit(m.Run())
}

func TestParseMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"64MiB", 64 << 20, false},
		{"1GiB", 1 << 30, false},
		{"512KiB", 512 << 10, false},
		{"1000000", 1000000, false},
		{"4096B", 4096, false},
		{"off", math.MaxInt64, false},
		{"0", math.MaxInt64, false},
		{"64MB", 0, true},
		{"-1MiB", 0, true},
		{"MiB", 0, true},
		{"9999999TiB", 0, true},
	} {
		got, err := parseMemoryLimit(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// TestBadMemoryFlags: a long-running command refuses a bad memory setting
// with one line naming the flag, before it starts anything.
func TestBadMemoryFlags(t *testing.T) {
	for _, args := range [][]string{
		{"node", "--memory-limit", "lots", "--name", "n"},
		{"node", "--gogc", "-5", "--name", "n"},
		{"bench", "--memory-limit", "12 MiB"},
	} {
		_, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), args[1]) {
			t.Errorf("%v: err %v, want one naming %s", args, err, args[1])
		}
	}
}
