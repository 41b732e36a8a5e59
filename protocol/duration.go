package protocol

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a duration as Go spells it ("90s", "1h30m") with
// two more units, d (24 h) and w (7 d), which may be fractional and mixed
// with the others ("7d", "2w", "1.5d", "1w2d12h"). It is the one duration
// syntax of every flag and configuration file.
func ParseDuration(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, durationError(in)
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		j := i
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		num, unit := s[:i], s[i:j]
		if num == "" || unit == "" {
			return 0, durationError(in)
		}
		var d time.Duration
		switch unit {
		case "d", "w":
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, durationError(in)
			}
			day := 24 * time.Hour
			if unit == "w" {
				day *= 7
			}
			d = time.Duration(f * float64(day))
		default:
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, durationError(in)
			}
		}
		total += d
		s = s[j:]
	}
	if neg {
		total = -total
	}
	return total, nil
}

func durationError(s string) error {
	return fmt.Errorf("invalid duration %q: want a number and a unit, e.g. 90s, 15m, 2h, 7d, 2w or 1d12h", s)
}
