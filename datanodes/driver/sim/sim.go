// Package sim is the simulated driver: deterministic, seeded readings of
// configurable fields (by default temperature, humidity and CO2) with
// noise, slow drift, a daily cycle and occasional spikes, optionally with
// days of history written at start. The value of a field at a time depends
// only on the seed, the field and the time, so history and live readings
// agree and two runs with one seed produce the same data.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/protocol"
)

// Sample is the documented configuration block of the sim driver.
const Sample = `# Simulated sensors: deterministic for a given seed.
- type: sim
  seed: 1               # same seed, same data
  interval: 1s          # sampling interval
  backfill: 7d          # history written at start (Go duration or Nd); 0 for none
  timeline: sim         # timeline shared by the fields
  # fields: omit for temperature (degC), humidity (%) and co2 (ppm)
  fields:
    - name: temperature
      description: air temperature
      units: degC
      base: 21          # mean value
      noise: 0.1        # standard deviation of white noise
      drift: 0.5        # amplitude of slow wander (periods of days)
      daily: 2          # amplitude of the daily cycle (peak at 14:00 UTC)
      spike_prob: 0.0005   # probability of a spike per sample
      spike_size: 8     # spike height
      limits:           # optional: outside warning warns, outside alarm alarms
        warning: {low: 18, high: 25}
        alarm: {low: 15, high: 30}
`

func init() {
	driver.Register(driver.Registration{
		Name:   "sim",
		Usage:  "simulated sensors with noise, drift, a daily cycle and spikes",
		Sample: Sample,
		New:    func() driver.Driver { return New() },
	})
}

// Field configures one simulated field.
type Field struct {
	Name        string  `yaml:"name"`
	Description string  `yaml:"description"`
	Units       string  `yaml:"units"`
	Base        float64 `yaml:"base"`
	Noise       float64 `yaml:"noise"`
	Drift       float64 `yaml:"drift"`
	Daily       float64 `yaml:"daily"`
	SpikeProb   float64 `yaml:"spike_prob"`
	SpikeSize   float64 `yaml:"spike_size"`
	// Limits are the field's warning and alarm ranges (optional).
	Limits *protocol.Limits `yaml:"limits"`
}

// Sim is the simulated driver and its configuration.
type Sim struct {
	Seed     int64         `yaml:"seed"`
	Interval time.Duration `yaml:"interval"`
	// Backfill is how much history to write at start: a Go duration or
	// a number of days such as "7d".
	Backfill string  `yaml:"backfill"`
	Timeline string  `yaml:"timeline"`
	Fields   []Field `yaml:"fields"`
	// BatchSize is how many readings one Emit carries during backfill.
	BatchSize int `yaml:"batch_size"`

	backfill time.Duration
	// Now is the clock; tests may set it.
	Now func() time.Time `yaml:"-"`
}

// DefaultFields are the fields of a sim driver configured without any.
func DefaultFields() []Field {
	return []Field{
		{Name: "temperature", Description: "air temperature", Units: "degC", Base: 21, Noise: 0.1, Drift: 0.5, Daily: 2, SpikeProb: 0.0005, SpikeSize: 8},
		{Name: "humidity", Description: "relative humidity", Units: "%", Base: 45, Noise: 0.5, Drift: 5, Daily: -8, SpikeProb: 0.0002, SpikeSize: 20},
		{Name: "co2", Description: "CO2 concentration", Units: "ppm", Base: 450, Noise: 5, Drift: 30, Daily: 60, SpikeProb: 0.001, SpikeSize: 400},
	}
}

// New returns a sim driver with its defaults.
func New() *Sim {
	return &Sim{Seed: 1, Interval: time.Second, Timeline: "sim", BatchSize: 10000}
}

// Init checks the configuration and fills in the default fields.
func (s *Sim) Init() error {
	if s.Interval <= 0 {
		return fmt.Errorf("interval must be positive, got %s", s.Interval)
	}
	if s.Interval < time.Microsecond {
		return errors.New("interval must be at least 1µs")
	}
	if s.Backfill != "" && s.Backfill != "0" {
		d, err := protocol.ParseDuration(s.Backfill)
		if err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		if d < 0 {
			return errors.New("backfill must not be negative")
		}
		if d/s.Interval > 1e9 {
			return fmt.Errorf("backfill %s at interval %s is over a billion samples", s.Backfill, s.Interval)
		}
		s.backfill = d
	}
	if s.BatchSize <= 0 {
		s.BatchSize = 10000
	}
	if s.Timeline == "" {
		s.Timeline = "sim"
	}
	if !protocol.ValidFieldName(s.Timeline) {
		return fmt.Errorf("invalid timeline name %q", s.Timeline)
	}
	if len(s.Fields) == 0 {
		s.Fields = DefaultFields()
	}
	seen := map[string]bool{}
	for i, f := range s.Fields {
		if err := protocol.CheckFieldName(f.Name); err != nil {
			return fmt.Errorf("fields[%d]: %w", i, err)
		}
		if seen[f.Name] {
			return fmt.Errorf("fields[%d]: duplicate field %s", i, f.Name)
		}
		seen[f.Name] = true
		if f.SpikeProb < 0 || f.SpikeProb > 1 || f.Noise < 0 {
			return fmt.Errorf("fields[%d]: spike_prob must be in [0, 1] and noise not negative", i)
		}
	}
	return nil
}

// Run declares the fields, writes the backfill, then emits a sample of
// every field each interval, at multiples of the interval. It waits on
// monotonic timers and reads Now only for stamps: a clock stepped back
// does not stall it (samples go on, stamped by the clock), one stepped
// forward is caught up.
func (s *Sim) Run(ctx context.Context, sink driver.Sink) error {
	if len(s.Fields) == 0 {
		if err := s.Init(); err != nil {
			return err
		}
	}
	clock := s.Now
	if clock == nil {
		clock = time.Now
	}
	fs := make([]driver.Field, len(s.Fields))
	for i, f := range s.Fields {
		fs[i] = driver.Field{Name: f.Name, Description: f.Description, Units: f.Units, Type: protocol.TypeNumber, Timeline: s.Timeline, Interval: s.Interval, Limits: f.Limits}
	}
	sink.Declare(fs...)
	iv := int64(s.Interval)
	k := clock().UnixNano() / iv
	if s.backfill > 0 {
		first := k - int64(s.backfill)/iv
		batch := make([]protocol.Reading, 0, s.BatchSize)
		for j := first; j < k; j++ {
			if j&1023 == 0 && ctx.Err() != nil {
				return nil
			}
			batch = s.appendSample(batch, j)
			if len(batch) >= s.BatchSize {
				sink.Emit(batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			sink.Emit(batch...)
		}
	}
	// k is the next step to emit. The wait for it is a monotonic timer of
	// at most one interval, aimed by the clock: a clock stepped back
	// never stalls the driver, which goes on emitting a sample each
	// interval stamped by the clock (the node decides what to do with
	// times it has already served).
	for {
		ahead := k*iv - clock().UnixNano()
		t := time.NewTimer(time.Duration(min(max(ahead, 0), iv)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		now := clock().UnixNano() / iv
		if now < k && ahead <= iv {
			continue // woke a little early: the step is due within an interval
		}
		if now < k {
			k = now // the clock stepped back: stamp by it
		}
		// Catch up on samples missed while the process was stalled (or
		// the clock stepped forward), a batch at a time.
		batch := make([]protocol.Reading, 0, min(int(now-k+1), s.BatchSize)*len(s.Fields))
		for ; k <= now; k++ {
			batch = s.appendSample(batch, k)
			if len(batch) >= s.BatchSize {
				if ctx.Err() != nil {
					return nil
				}
				sink.Emit(batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			sink.Emit(batch...)
		}
	}
}

// appendSample appends the readings of every field at step k.
func (s *Sim) appendSample(b []protocol.Reading, k int64) []protocol.Reading {
	t := k * int64(s.Interval)
	for i := range s.Fields {
		b = append(b, protocol.Reading{Field: s.Fields[i].Name, Time: t, Value: s.Value(i, t)})
	}
	return b
}

// Value is field i's value at time t (nanoseconds).
func (s *Sim) Value(i int, t int64) float64 {
	f := s.Fields[i]
	sec := float64(t) / 1e9
	day := 86400.0
	ph := phase(s.Seed, i)
	v := f.Base
	v += f.Daily * math.Cos(2*math.Pi*(sec-14*3600)/day)
	v += f.Drift * (0.6*math.Sin(2*math.Pi*sec/(3.3*day)+ph) + 0.4*math.Sin(2*math.Pi*sec/(11.7*day)+2*ph))
	u1, u2, u3 := uniform(s.Seed, i, t, 1), uniform(s.Seed, i, t, 2), uniform(s.Seed, i, t, 3)
	v += f.Noise * math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	if u3 < f.SpikeProb {
		v += f.SpikeSize
	}
	return math.Round(v*1e4) / 1e4
}

func phase(seed int64, i int) float64 { return 2 * math.Pi * uniform(seed, i, 0, 0) }

// uniform is a deterministic number in (0, 1) for its arguments.
func uniform(seed int64, i int, t int64, salt uint64) float64 {
	x := uint64(seed)*0x9E3779B97F4A7C15 ^ uint64(i+1)*0xBF58476D1CE4E5B9 ^ uint64(t)*0x94D049BB133111EB ^ salt*0xD6E8FEB86659FD93
	// splitmix64 finalizer
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return (float64(x>>11) + 0.5) / (1 << 53)
}
