package periph

import (
	"context"
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/bmxx80"
	"periph.io/x/devices/v3/ds18b20"
	"periph.io/x/devices/v3/ina219"
	"periph.io/x/devices/v3/scd4x"
)

// device is an open sensor; read returns its quantities in the order of
// kinds[kind].
type device interface {
	read() ([]float64, error)
	halt()
}

func open(ctx context.Context, s Sensor, b *buses) (device, error) {
	if s.Kind == "ds18b20" {
		bus, err := b.onewire()
		if err != nil {
			return nil, err
		}
		dev, err := ds18b20.New(bus, onewire.Address(s.Address), s.Resolution)
		if err != nil {
			return nil, err
		}
		return envDev{dev, 1}, nil
	}
	bus, err := b.i2c()
	if err != nil {
		return nil, err
	}
	addr := uint16(s.Address)
	switch s.Kind {
	case "bme280", "bmp280":
		dev, err := bmxx80.NewI2C(bus, addr, &bmxx80.DefaultOpts)
		if err != nil {
			return nil, err
		}
		n := 3
		if s.Kind == "bmp280" {
			n = 2
		}
		return envDev{dev, n}, nil
	case "scd4x":
		dev, err := scd4x.NewI2C(bus, addr)
		if err != nil {
			return nil, err
		}
		return scdDev{dev}, nil
	case "ina219":
		o := ina219.Opts{Address: int(addr)}
		if s.ShuntOhms > 0 {
			o.SenseResistor = physic.ElectricResistance(s.ShuntOhms * float64(physic.Ohm))
		}
		if s.MaxCurrent > 0 {
			o.MaxCurrent = physic.ElectricCurrent(s.MaxCurrent * float64(physic.Ampere))
		}
		dev, err := ina219.New(bus, &o)
		if err != nil {
			return nil, err
		}
		return inaDev{dev}, nil
	case "sgp30":
		return openSGP30(ctx, bus)
	}
	return nil, fmt.Errorf("unknown kind %q", s.Kind)
}

// envDev reads a physic.SenseEnv: temperature, pressure, humidity (the
// first n of them).
type envDev struct {
	dev interface {
		Sense(*physic.Env) error
		Halt() error
	}
	n int
}

func (e envDev) read() ([]float64, error) {
	var env physic.Env
	if err := e.dev.Sense(&env); err != nil {
		return nil, err
	}
	out := []float64{celsius(env.Temperature), hPa(env.Pressure), percentRH(env.Humidity)}
	return out[:e.n], nil
}

func (e envDev) halt() { e.dev.Halt() }

type scdDev struct{ dev *scd4x.Dev }

func (s scdDev) read() ([]float64, error) {
	var env scd4x.Env
	if err := s.dev.Sense(&env); err != nil {
		return nil, err
	}
	return []float64{float64(env.CO2), celsius(env.Temperature), percentRH(env.Humidity)}, nil
}

func (s scdDev) halt() { s.dev.Halt() }

type inaDev struct{ dev *ina219.Dev }

func (d inaDev) read() ([]float64, error) {
	pm, err := d.dev.Sense()
	if err != nil {
		return nil, err
	}
	return []float64{
		float64(pm.Voltage) / float64(physic.Volt), float64(pm.Shunt) / float64(physic.Volt),
		float64(pm.Current) / float64(physic.Ampere), float64(pm.Power) / float64(physic.Watt),
	}, nil
}

func (inaDev) halt() {}

func celsius(t physic.Temperature) float64 {
	return float64(t-physic.ZeroCelsius) / float64(physic.Celsius)
}

func hPa(p physic.Pressure) float64 { return float64(p) / float64(physic.Pascal) / 100 }

func percentRH(h physic.RelativeHumidity) float64 { return float64(h) / float64(physic.PercentRH) }

// SGP30 commands and timings from the Sensirion datasheet. periph's sgp30
// package blocks 20 s in its constructor, logs through the log package and
// ignores CRCs, so the two commands needed are spoken here directly.
var (
	sgpInit    = []byte{0x20, 0x03}
	sgpMeasure = []byte{0x20, 0x08}
	sgpSleep   = time.Sleep
)

type sgpDev struct{ d *i2c.Dev }

func openSGP30(ctx context.Context, bus i2c.Bus) (device, error) {
	d := &i2c.Dev{Bus: bus, Addr: 0x58}
	if err := d.Tx(sgpInit, nil); err != nil {
		return nil, err
	}
	sgpSleep(10 * time.Millisecond)
	return sgpDev{d}, nil
}

func (s sgpDev) read() ([]float64, error) {
	if err := s.d.Tx(sgpMeasure, nil); err != nil {
		return nil, err
	}
	sgpSleep(12 * time.Millisecond)
	buf := make([]byte, 6)
	if err := s.d.Tx(nil, buf); err != nil {
		return nil, err
	}
	if crc8(buf[0:2]) != buf[2] || crc8(buf[3:5]) != buf[5] {
		return nil, errors.New("sgp30: CRC mismatch")
	}
	co2 := uint16(buf[0])<<8 | uint16(buf[1])
	tvoc := uint16(buf[3])<<8 | uint16(buf[4])
	return []float64{float64(co2), float64(tvoc)}, nil
}

func (sgpDev) halt() {}

// crc8 is Sensirion's CRC: polynomial 0x31, initial value 0xFF.
func crc8(b []byte) byte {
	crc := byte(0xff)
	for _, x := range b {
		crc ^= x
		for i := 0; i < 8; i++ {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
