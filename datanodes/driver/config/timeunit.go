package config

import (
	"fmt"
	"math"
	"strconv"

	"github.com/telemesh/telemesh/protocol"
)

// TimeUnit is the unit of a numeric epoch timestamp in a driver's input
// (the `time_unit` key of the drivers that read one): seconds, ms, µs, ns
// since the UNIX epoch, or auto, the default, which tells them apart by
// magnitude for dates from 1973-03-03 on:
//
//	|v| < 1e11         seconds       (up to 2262; 1e10 is 2286: refused)
//	1e11 <= v < 1e14   milliseconds  (1973-03-03 on)
//	1e14 <= v < 1e17   microseconds
//	1e17 <= v          nanoseconds   (up to 2262)
//
// A negative value is seconds. Auto never changes a seconds value that
// int64 nanoseconds hold; it reads the values that seconds would put past
// the year 5138 in the unit that dates them after 1973. A millisecond
// epoch before 1973-03-03 (under 1e11) is read as seconds: set the unit.
type TimeUnit string

// The time units.
const (
	UnitAuto    TimeUnit = "auto"
	UnitSeconds TimeUnit = "s"
	UnitMillis  TimeUnit = "ms"
	UnitMicros  TimeUnit = "us"
	UnitNanos   TimeUnit = "ns"
)

// Check reports an unknown unit; empty is auto.
func (u TimeUnit) Check() error {
	switch u {
	case "", UnitAuto, UnitSeconds, UnitMillis, UnitMicros, UnitNanos:
		return nil
	}
	return fmt.Errorf("time unit %q: want s, ms, us, ns or auto", string(u))
}

// perUnit is the nanoseconds in one u, and its name in errors.
func (u TimeUnit) perUnit() (int64, string) {
	switch u {
	case UnitMillis:
		return 1e6, "milliseconds"
	case UnitMicros:
		return 1e3, "microseconds"
	case UnitNanos:
		return 1, "nanoseconds"
	}
	return 1e9, "seconds"
}

// resolve returns the unit auto picks for v (u itself otherwise).
func (u TimeUnit) resolve(v float64) TimeUnit {
	if u != "" && u != UnitAuto {
		return u
	}
	switch {
	case v < 1e11:
		return UnitSeconds
	case v < 1e14:
		return UnitMillis
	case v < 1e17:
		return UnitMicros
	}
	return UnitNanos
}

// Parse converts the text of a numeric epoch timestamp in unit u to
// nanoseconds since the epoch: an integer exactly, a fraction rounded to
// the microsecond. A time int64 nanoseconds do not hold (after 2262,
// before 1677), NaN or an infinity is an error wrapping
// protocol.ErrTimeRange that quotes the text and the unit read.
func (u TimeUnit) Parse(text string) (int64, error) {
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		per, name := u.resolve(float64(n)).perUnit()
		if n > math.MaxInt64/per || n < math.MinInt64/per {
			return 0, fmt.Errorf("time %s in %s: %w", text, u.named(name), protocol.ErrTimeRange)
		}
		return n * per, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, fmt.Errorf("time %q is not a number", text)
	}
	return u.nanos(f, text)
}

// Nanos converts a numeric epoch timestamp in unit u to nanoseconds since
// the epoch, rounded to the microsecond, with Parse's errors.
func (u TimeUnit) Nanos(v float64) (int64, error) {
	return u.nanos(v, strconv.FormatFloat(v, 'g', -1, 64))
}

func (u TimeUnit) nanos(v float64, text string) (int64, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("time %s is not finite: %w", text, protocol.ErrTimeRange)
	}
	per, name := u.resolve(v).perUnit()
	// One division by an exact power of ten, correctly rounded.
	ns, err := protocol.ToNanos(v / (1e9 / float64(per)))
	if err != nil {
		return 0, fmt.Errorf("time %s in %s: %w", text, u.named(name), protocol.ErrTimeRange)
	}
	return ns, nil
}

// named is the unit's name in errors, saying when auto chose it.
func (u TimeUnit) named(name string) string {
	if u == "" || u == UnitAuto {
		return name + " (auto-detected)"
	}
	return name
}
