// Package hwmon is a data-node driver reading Linux hardware monitoring
// sensors from /sys/class/hwmon directly, as lm-sensors does: each
// *_input file becomes a field in SI-style units with the chip's name and
// the sensor's label.
package hwmon

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/driver/config"
	"github.com/telemesh/telemesh/protocol"
)

//go:embed sample.yaml
var sample string

func init() {
	driver.Register(driver.Registration{
		Name:   "hwmon",
		Usage:  "Linux hardware monitoring sensors from /sys/class/hwmon (temperatures, voltages, fans, power)",
		Sample: sample,
		New:    func() driver.Driver { return New() },
	})
}

// Driver reads hwmon sensors. Its exported fields are its YAML block.
type Driver struct {
	Type     string        `yaml:"type"`
	Root     string        `yaml:"root"`
	Interval time.Duration `yaml:"interval"`
	Prefix   string        `yaml:"prefix"`
	Chips    []string      `yaml:"chips"`
	Timeline string        `yaml:"timeline"`

	declared map[string]bool
	failing  map[string]bool
}

// New returns a driver with the default configuration.
func New() *Driver {
	return &Driver{Root: "/sys", Interval: 10 * time.Second, Timeline: "hwmon"}
}

// Init validates the configuration.
func (d *Driver) Init() error {
	if d.Root == "" {
		return errors.New("hwmon: root must not be empty")
	}
	if d.Interval <= 0 {
		return fmt.Errorf("hwmon: interval %v must be positive", d.Interval)
	}
	if d.Timeline == "" {
		d.Timeline = "hwmon"
	}
	if d.Prefix != "" && !protocol.ValidFieldName(d.Prefix+"x") {
		return fmt.Errorf("hwmon: invalid prefix %q", d.Prefix)
	}
	return nil
}

// kind describes one class of hwmon input file.
type kind struct {
	prefix string
	units  string
	div    float64
	what   string
}

var kinds = []kind{
	{"temp", "C", 1e3, "temperature"},
	{"in", "V", 1e3, "voltage"},
	{"fan", "RPM", 1, "fan speed"},
	{"power", "W", 1e6, "power"},
	{"curr", "A", 1e3, "current"},
	{"energy", "J", 1e6, "energy"},
	{"humidity", "%RH", 1e3, "relative humidity"},
}

// Sensor is one *_input file found by Scan.
type Sensor struct {
	Field       driver.Field
	Path        string
	Div         float64
	Chip, Label string
}

// Scan lists the sensors under root, sorted by field name.
func (d *Driver) Scan() ([]Sensor, error) {
	base := filepath.Join(d.Root, "class", "hwmon")
	ents, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("hwmon: %w", err)
	}
	type chip struct{ dir, name, dev string }
	var chips []chip
	for _, e := range ents {
		dir := filepath.Join(base, e.Name())
		name := readString(filepath.Join(dir, "name"))
		if name == "" {
			name = e.Name()
		}
		if len(d.Chips) > 0 && !slices.Contains(d.Chips, name) {
			continue
		}
		dev := ""
		if p, err := filepath.EvalSymlinks(filepath.Join(dir, "device")); err == nil {
			dev = strings.TrimPrefix(p, d.Root)
		}
		chips = append(chips, chip{dir, name, dev})
	}
	// Chips sharing a name (two NVMe drives) are told apart by device path,
	// so their field names stay stable across reboots that renumber hwmonN.
	sort.Slice(chips, func(i, j int) bool {
		if chips[i].name != chips[j].name {
			return chips[i].name < chips[j].name
		}
		return chips[i].dev+chips[i].dir < chips[j].dev+chips[j].dir
	})
	count := map[string]int{}
	for _, c := range chips {
		count[c.name]++
	}
	seen := map[string]int{}
	var out []Sensor
	for _, c := range chips {
		chipName := config.Sanitize(c.name)
		if count[c.name] > 1 {
			seen[c.name]++
			chipName = fmt.Sprintf("%s%d", chipName, seen[c.name]-1)
		}
		files, err := os.ReadDir(c.dir)
		if err != nil {
			continue
		}
		labels := map[string]bool{}
		for _, f := range files {
			id, ok := strings.CutSuffix(f.Name(), "_input")
			if !ok {
				continue
			}
			var k *kind
			for i := range kinds {
				if n, ok := strings.CutPrefix(id, kinds[i].prefix); ok && isDigits(n) {
					k = &kinds[i]
				}
			}
			if k == nil {
				continue
			}
			label := readString(filepath.Join(c.dir, id+"_label"))
			part := config.Sanitize(label)
			if label == "" || labels[part] {
				part = id
			}
			labels[part] = true
			desc := k.what + " " + id
			if label != "" {
				desc = fmt.Sprintf("%s %s (%s)", k.what, label, id)
			}
			desc += " of " + c.name
			if c.dev != "" {
				desc += " at " + c.dev
			}
			out = append(out, Sensor{
				Field: driver.Field{
					Name: d.Prefix + chipName + "." + part, Description: desc, Units: k.units,
					Type: protocol.TypeNumber, Timeline: d.Timeline, Interval: d.Interval,
				},
				Path: filepath.Join(c.dir, f.Name()), Div: k.div, Chip: c.name, Label: label,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field.Name < out[j].Field.Name })
	return out, nil
}

// Read reads every sensor once at time now, declaring new fields first.
// Sensors that fail to read are reported once until they recover.
func (d *Driver) Read(sink driver.Sink, now time.Time) {
	sensors, err := d.Scan()
	if err != nil {
		if !d.failing[""] {
			sink.Error(err)
		}
		d.failing[""] = true
		return
	}
	delete(d.failing, "")
	var fresh []driver.Field
	for _, s := range sensors {
		if !d.declared[s.Field.Name] {
			d.declared[s.Field.Name] = true
			fresh = append(fresh, s.Field)
		}
	}
	if len(fresh) > 0 {
		sink.Declare(fresh...)
	}
	t := now.UnixNano()
	rs := make([]protocol.Reading, 0, len(sensors))
	for _, s := range sensors {
		v, err := readValue(s.Path)
		if err != nil {
			// Some chips answer EIO or ENODATA while a sensor is idle:
			// skip it this round, say so once.
			if !d.failing[s.Path] {
				sink.Error(fmt.Errorf("hwmon: %s: %w", s.Field.Name, err))
				d.failing[s.Path] = true
			}
			continue
		}
		delete(d.failing, s.Path)
		rs = append(rs, protocol.Reading{Field: s.Field.Name, Time: t, Value: v / s.Div})
	}
	if len(rs) > 0 {
		sink.Emit(rs...)
	}
}

// Run reads every interval until ctx ends.
func (d *Driver) Run(ctx context.Context, sink driver.Sink) error {
	d.declared, d.failing = map[string]bool{}, map[string]bool{}
	tick := time.NewTicker(d.Interval)
	defer tick.Stop()
	for {
		d.Read(sink, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func readString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readValue(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad value %q in %s", s, filepath.Base(path))
	}
	return v, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
