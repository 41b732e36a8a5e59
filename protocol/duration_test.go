package protocol

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "90s", want: 90 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "7d", want: 7 * day},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "2w", want: 14 * day},
		{in: "1w2d12h", want: 9*day + 12*time.Hour},
		{in: "-1h", want: -time.Hour},
		{in: " 24h ", want: day},
		{in: "", bad: true},
		{in: "7", bad: true},
		{in: "d", bad: true},
		{in: "7x", bad: true},
		{in: "1..5d", bad: true},
		{in: "abc", bad: true},
	} {
		got, err := ParseDuration(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
