// Package periph is a data-node driver reading I2C and 1-wire sensors
// through periph.io: BME280/BMP280 (bmxx80), DS18B20, SCD4x, SGP30 and
// INA219, with bus and address in the configuration. A sensor that stops
// answering is reported and opened again with backoff; the others go on.
package periph

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewirereg"
	"periph.io/x/host/v3"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/driver/config"
	"github.com/telemesh/telemesh/protocol"
)

//go:embed sample.yaml
var sample string

func init() {
	driver.Register(driver.Registration{
		Name:   "periph",
		Usage:  "I2C and 1-wire sensors via periph.io: bme280, bmp280, ds18b20, scd4x, sgp30, ina219",
		Sample: sample,
		New:    func() driver.Driver { return New() },
	})
}

// Sensor is one configured sensor.
type Sensor struct {
	Kind    string `yaml:"kind"`
	Address uint64 `yaml:"address"`
	Name    string `yaml:"name"`
	// ShuntOhms and MaxCurrent (A) configure an ina219.
	ShuntOhms  float64 `yaml:"shunt_ohms"`
	MaxCurrent float64 `yaml:"max_current"`
	// Resolution is a ds18b20's resolution in bits, 9 to 12.
	Resolution int `yaml:"resolution"`
}

// Driver reads periph.io sensors. Its exported fields are its YAML block.
type Driver struct {
	Type       string        `yaml:"type"`
	I2CBus     string        `yaml:"i2c_bus"`
	OneWireBus string        `yaml:"onewire_bus"`
	Interval   time.Duration `yaml:"interval"`
	Prefix     string        `yaml:"prefix"`
	RetryMax   time.Duration `yaml:"retry_max"`
	Sensors    []Sensor      `yaml:"sensors"`

	// OpenI2C and OpenOneWire open the buses; nil means the host's buses
	// through host.Init. Tests inject recorded buses here.
	OpenI2C     func() (i2c.Bus, error)     `yaml:"-"`
	OpenOneWire func() (onewire.Bus, error) `yaml:"-"`
}

// New returns a driver with the default configuration.
func New() *Driver {
	return &Driver{Interval: 10 * time.Second, RetryMax: time.Minute}
}

// quantity is one value a kind of sensor measures.
type quantity struct{ suffix, units, what string }

// kinds lists what each kind measures, in the order read returns it.
var kinds = map[string][]quantity{
	"bme280":  {{"temperature", "C", "temperature"}, {"pressure", "hPa", "pressure"}, {"humidity", "%RH", "relative humidity"}},
	"bmp280":  {{"temperature", "C", "temperature"}, {"pressure", "hPa", "pressure"}},
	"ds18b20": {{"temperature", "C", "temperature"}},
	"scd4x":   {{"co2", "ppm", "CO2 concentration"}, {"temperature", "C", "temperature"}, {"humidity", "%RH", "relative humidity"}},
	"sgp30":   {{"eco2", "ppm", "equivalent CO2"}, {"tvoc", "ppb", "total volatile organic compounds"}},
	"ina219":  {{"voltage", "V", "bus voltage"}, {"shunt", "V", "shunt voltage"}, {"current", "A", "current"}, {"power", "W", "power"}},
}

var defaultAddr = map[string]uint64{"bme280": 0x76, "bmp280": 0x76, "scd4x": 0x62, "sgp30": 0x58, "ina219": 0x40}

// Init validates the configuration.
func (d *Driver) Init() error {
	if d.Interval <= 0 {
		return fmt.Errorf("periph: interval %v must be positive", d.Interval)
	}
	if d.RetryMax <= 0 {
		d.RetryMax = time.Minute
	}
	if len(d.Sensors) == 0 {
		return errors.New("periph: sensors must list at least one sensor")
	}
	names := map[string]bool{}
	for i := range d.Sensors {
		s := &d.Sensors[i]
		if _, ok := kinds[s.Kind]; !ok {
			return fmt.Errorf("periph: sensors[%d]: unknown kind %q (want bme280, bmp280, ds18b20, scd4x, sgp30 or ina219)", i, s.Kind)
		}
		if s.Address == 0 {
			s.Address = defaultAddr[s.Kind]
		}
		if s.Address == 0 {
			return fmt.Errorf("periph: sensors[%d]: %s needs its 1-wire address", i, s.Kind)
		}
		if s.Kind != "ds18b20" && s.Address > 0x7f {
			return fmt.Errorf("periph: sensors[%d]: I2C address %#x out of range", i, s.Address)
		}
		if s.Kind == "sgp30" && s.Address != 0x58 {
			return fmt.Errorf("periph: sensors[%d]: an sgp30 answers at 0x58 only", i)
		}
		if s.Kind == "ds18b20" {
			if s.Resolution == 0 {
				s.Resolution = 12
			}
			if s.Resolution < 9 || s.Resolution > 12 {
				return fmt.Errorf("periph: sensors[%d]: resolution %d: want 9 to 12 bits", i, s.Resolution)
			}
		}
		if s.ShuntOhms < 0 || s.MaxCurrent < 0 {
			return fmt.Errorf("periph: sensors[%d]: shunt_ohms and max_current must not be negative", i)
		}
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s_%x", s.Kind, s.Address)
		}
		if !protocol.ValidFieldName(d.Prefix + s.Name + ".x") {
			return fmt.Errorf("periph: sensors[%d]: invalid name %q", i, s.Name)
		}
		if names[s.Name] {
			return fmt.Errorf("periph: sensors[%d]: duplicate name %q", i, s.Name)
		}
		names[s.Name] = true
	}
	return nil
}

var hostOnce = sync.OnceValue(func() error {
	_, err := host.Init()
	return err
})

func (d *Driver) openI2C() (i2c.Bus, error) {
	if d.OpenI2C != nil {
		return d.OpenI2C()
	}
	if err := hostOnce(); err != nil {
		return nil, err
	}
	return i2creg.Open(d.I2CBus)
}

func (d *Driver) openOneWire() (onewire.Bus, error) {
	if d.OpenOneWire != nil {
		return d.OpenOneWire()
	}
	if err := hostOnce(); err != nil {
		return nil, err
	}
	return onewirereg.Open(d.OneWireBus)
}

// Fields returns the fields the configured sensors produce.
func (d *Driver) Fields() []driver.Field {
	var out []driver.Field
	for _, s := range d.Sensors {
		for _, q := range kinds[s.Kind] {
			out = append(out, driver.Field{
				Name: d.Prefix + s.Name + "." + q.suffix, Units: q.units, Type: protocol.TypeNumber,
				Description: fmt.Sprintf("%s (%s at %#x)", q.what, s.Kind, s.Address),
				Timeline:    config.Sanitize(d.Prefix + s.Name), Interval: d.Interval,
			})
		}
	}
	return out
}

// state is one sensor's device and retry schedule.
type state struct {
	Sensor
	dev     device
	next    time.Time
	backoff config.Backoff
	failing bool
}

// Run reads every sensor each interval until ctx ends.
func (d *Driver) Run(ctx context.Context, sink driver.Sink) error {
	sink.Declare(d.Fields()...)
	states := make([]*state, len(d.Sensors))
	for i, s := range d.Sensors {
		states[i] = &state{Sensor: s, backoff: config.Backoff{Min: d.Interval, Max: d.RetryMax}}
	}
	defer func() {
		for _, st := range states {
			if st.dev != nil {
				st.dev.halt()
			}
		}
	}()
	b := &buses{d: d}
	tick := time.NewTicker(d.Interval)
	defer tick.Stop()
	for {
		for _, st := range states {
			if ctx.Err() != nil {
				return nil
			}
			d.poll(ctx, st, b, sink)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// buses opens each bus once, on first use, and again after a failure.
type buses struct {
	d  *Driver
	i2 i2c.Bus
	ow onewire.Bus
}

func (b *buses) i2c() (i2c.Bus, error) {
	if b.i2 == nil {
		bus, err := b.d.openI2C()
		if err != nil {
			return nil, fmt.Errorf("opening I2C bus %q: %w", b.d.I2CBus, err)
		}
		b.i2 = bus
	}
	return b.i2, nil
}

func (b *buses) onewire() (onewire.Bus, error) {
	if b.ow == nil {
		bus, err := b.d.openOneWire()
		if err != nil {
			return nil, fmt.Errorf("opening 1-wire bus %q: %w", b.d.OneWireBus, err)
		}
		b.ow = bus
	}
	return b.ow, nil
}

func (d *Driver) poll(ctx context.Context, st *state, b *buses, sink driver.Sink) {
	now := time.Now()
	if st.dev == nil {
		if now.Before(st.next) {
			return
		}
		dev, err := open(ctx, st.Sensor, b)
		if err != nil {
			d.fail(st, fmt.Errorf("opening: %w", err), sink)
			return
		}
		st.dev = dev
	}
	vals, err := st.dev.read()
	if err != nil {
		st.dev.halt()
		st.dev = nil
		d.fail(st, fmt.Errorf("reading: %w", err), sink)
		return
	}
	if st.failing {
		st.failing = false
		st.backoff.Reset()
	}
	t := time.Now().UnixNano()
	qs := kinds[st.Kind]
	rs := make([]protocol.Reading, 0, len(vals))
	for i, v := range vals {
		rs = append(rs, protocol.Reading{Field: d.Prefix + st.Name + "." + qs[i].suffix, Time: t, Value: v})
	}
	sink.Emit(rs...)
}

func (d *Driver) fail(st *state, err error, sink driver.Sink) {
	delay := st.backoff.Next()
	st.next = time.Now().Add(delay)
	st.failing = true
	sink.Error(fmt.Errorf("periph %s %s at %#x: %w; retrying in %v", st.Name, st.Kind, st.Address, err, delay))
}
