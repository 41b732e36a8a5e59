package config

import (
	"errors"
	"testing"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// TestTimeUnit: the same instant, 2026-11-23T19:15:00.123456Z, written in
// each unit, read under auto and under the forced unit; the values past
// 2262 in each unit, and those of the wrong unit, are errors.
func TestTimeUnit(t *testing.T) {
	const at = int64(1_795_461_300_123_456_000) // 2026-11-23T19:15:00.123456Z
	if got := time.Unix(0, at).UTC().Format(time.RFC3339Nano); got != "2026-11-23T19:15:00.123456Z" {
		t.Fatalf("test instant is %s", got)
	}
	for _, tc := range []struct {
		text string
		unit TimeUnit
		want int64 // 0: an error
	}{
		// The plausible range of each unit under auto.
		{"1795461300.123456", UnitAuto, at},
		{"1795461300123.456", UnitAuto, at},
		{"1795461300123456", UnitAuto, at},
		{"1795461300123456000", UnitAuto, at},
		{"1795461300", "", 1_795_461_300_000_000_000},
		{"0", UnitAuto, 0},
		{"-86400", UnitAuto, -86_400_000_000_000},                 // 1969-12-31, seconds
		{"99999999999", UnitAuto, 0},                              // 5138 in seconds: past 2262
		{"100000000000", UnitAuto, 100_000_000_000_000_000},       // 1e11 ms: 1973-03-03
		{"99999999999999", UnitAuto, 0},                           // 5138 in ms: past 2262
		{"100000000000000", UnitAuto, 100_000_000_000_000_000},    // 1e14 µs: 1973-03-03
		{"100000000000000000", UnitAuto, 100_000_000_000_000_000}, // 1e17 ns: 1973-03-03
		{"9223372036854775807", UnitAuto, 9_223_372_036_854_775_807},
		// Past 2262 in each unit.
		{"10000000000", UnitAuto, 0},          // 1e10 s: 2286
		{"9223372036.854778", UnitAuto, 0},    // just past 2262-04-11T23:47:16.854775807Z
		{"9223372036855", UnitMillis, 0},      // 2262 in ms plus 1 ms
		{"9223372036855000", UnitMicros, 0},   // and in µs
		{"9223372036854775808", UnitNanos, 0}, // MaxInt64 + 1 ns
		{"99999999999999999999", UnitAuto, 0}, // 1e20 ns
		{"1e300", UnitAuto, 0},
		{"NaN", UnitAuto, 0},
		{"+Inf", UnitSeconds, 0},
		// A forced unit is not second-guessed.
		{"1795461300123", UnitSeconds, 0}, // ms read as seconds: year 58866
		{"1795461300123", UnitMillis, 1_795_461_300_123_000_000},
		{"1795461300", UnitMillis, 1_795_461_300_000_000}, // 1970-01-21
		{"1795461300123456", UnitMicros, at},
		{"1795461300123456789", UnitNanos, at + 789}, // integers exactly
		{"-1", UnitMillis, -1_000_000},
	} {
		got, err := tc.unit.Parse(tc.text)
		if (tc.want == 0 && tc.text != "0") != (err != nil) || got != tc.want {
			t.Errorf("%s %q: got %d, %v; want %d", tc.unit, tc.text, got, err, tc.want)
			continue
		}
		if err != nil && !errors.Is(err, protocol.ErrTimeRange) {
			t.Errorf("%s %q: error %v does not wrap ErrTimeRange", tc.unit, tc.text, err)
		}
	}
	if _, err := UnitAuto.Parse("soon"); err == nil {
		t.Error("Parse(soon) passed")
	}
	if ns, err := UnitAuto.Nanos(1_795_461_300_123.456); err != nil || ns != at {
		t.Errorf("Nanos(ms float) = %d, %v", ns, err)
	}
	for _, u := range []TimeUnit{"", "auto", "s", "ms", "us", "ns"} {
		if err := u.Check(); err != nil {
			t.Errorf("Check(%q): %v", u, err)
		}
	}
	if err := TimeUnit("sec").Check(); err == nil {
		t.Error(`Check("sec") passed`)
	}
}
