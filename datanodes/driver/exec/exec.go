// Package exec is a data-node driver that runs a command every interval
// and parses its output, `field=value` lines or a JSON object, into
// readings. Failures (non-zero exit, timeout, bad lines) are reported to
// the sink and the command runs again at the next interval.
package exec

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	osexec "os/exec"
	"slices"
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
		Name:   "exec",
		Usage:  "runs a command every interval and parses field=value lines or JSON from its output",
		Sample: sample,
		New:    func() driver.Driver { return New() },
	})
}

// Driver runs a command periodically. Its exported fields are its YAML block.
type Driver struct {
	Type     string                      `yaml:"type"`
	Command  []string                    `yaml:"command"`
	Interval time.Duration               `yaml:"interval"`
	Timeout  time.Duration               `yaml:"timeout"`
	Format   string                      `yaml:"format"`
	Prefix   string                      `yaml:"prefix"`
	Timeline string                      `yaml:"timeline"`
	Fields   map[string]config.FieldMeta `yaml:"fields"`
	// TimeKey names the key (a JSON key or a line's field) holding the
	// readings' time as an epoch number in TimeUnit; empty, or absent from
	// an output, stamps them with the time the command finished.
	TimeKey  string          `yaml:"time_key"`
	TimeUnit config.TimeUnit `yaml:"time_unit"`

	types map[string]string
}

// New returns a driver with the default configuration.
func New() *Driver {
	return &Driver{Interval: 10 * time.Second, Format: "auto", Timeline: "exec"}
}

// Init validates the configuration.
func (d *Driver) Init() error {
	if len(d.Command) == 0 || d.Command[0] == "" {
		return errors.New("exec: command must not be empty")
	}
	if d.Interval <= 0 {
		return fmt.Errorf("exec: interval %v must be positive", d.Interval)
	}
	if d.Timeout <= 0 {
		d.Timeout = d.Interval
	}
	switch d.Format {
	case "":
		d.Format = "auto"
	case "auto", "lines", "json":
	default:
		return fmt.Errorf("exec: format %q: want auto, lines or json", d.Format)
	}
	if d.Timeline == "" {
		d.Timeline = "exec"
	}
	if err := d.TimeUnit.Check(); err != nil {
		return fmt.Errorf("exec: time_unit: %w", err)
	}
	if d.TimeUnit == "" {
		d.TimeUnit = config.UnitAuto
	}
	for name := range d.Fields {
		if !protocol.ValidFieldName(d.Prefix + name) {
			return fmt.Errorf("exec: invalid field name %q", d.Prefix+name)
		}
	}
	return nil
}

// Run runs the command every interval until ctx ends.
func (d *Driver) Run(ctx context.Context, sink driver.Sink) error {
	d.types = map[string]string{}
	tick := time.NewTicker(d.Interval)
	defer tick.Stop()
	for {
		d.Once(ctx, sink)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Once runs the command once and emits what it printed.
func (d *Driver) Once(ctx context.Context, sink driver.Sink) {
	if d.types == nil {
		d.types = map[string]string{}
	}
	cctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	cmd := osexec.CommandContext(cctx, d.Command[0], d.Command[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A grandchild holding the pipes open must not hang the driver.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	now := time.Now().UnixNano()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if cctx.Err() != nil {
			err = fmt.Errorf("timed out after %v", d.Timeout)
		}
		if msg := lastLine(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		sink.Error(fmt.Errorf("exec %s: %w", d.Command[0], err))
		return
	}
	values, errs := d.parse(stdout.Bytes())
	for _, e := range errs {
		sink.Error(fmt.Errorf("exec %s: %w", d.Command[0], e))
	}
	if raw, ok := values[d.TimeKey]; ok && d.TimeKey != "" {
		delete(values, d.TimeKey)
		t, err := d.TimeUnit.Parse(fmt.Sprint(raw))
		if err != nil {
			sink.Error(fmt.Errorf("exec %s: %s %w; using the time the command finished", d.Command[0], d.TimeKey, err))
		} else {
			now = t
		}
	}
	var fresh []driver.Field
	var rs []protocol.Reading
	for _, k := range slices.Sorted(maps.Keys(values)) {
		v := values[k]
		name := d.Prefix + k
		if !protocol.ValidFieldName(name) {
			name = d.Prefix + config.Sanitize(k)
		}
		typ := protocol.TypeOf(v)
		if old, ok := d.types[name]; ok && old != typ {
			sink.Error(fmt.Errorf("exec %s: field %s changed type from %s to %s; skipped", d.Command[0], name, old, typ))
			continue
		} else if !ok {
			d.types[name] = typ
			m := d.Fields[k]
			fresh = append(fresh, driver.Field{Name: name, Units: m.Units, Description: m.Description,
				Type: typ, Timeline: d.Timeline, Interval: d.Interval})
		}
		rs = append(rs, protocol.Reading{Field: name, Time: now, Value: v})
	}
	if len(fresh) > 0 {
		sink.Declare(fresh...)
	}
	if len(rs) > 0 {
		sink.Emit(rs...)
	}
}

func (d *Driver) parse(out []byte) (map[string]any, []error) {
	trim := bytes.TrimSpace(out)
	if d.Format == "json" || d.Format == "auto" && bytes.HasPrefix(trim, []byte("{")) {
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(trim))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return nil, []error{fmt.Errorf("bad JSON output: %w", err)}
		}
		vals := map[string]any{}
		var errs []error
		if t, ok := obj[d.TimeKey]; ok && d.TimeKey != "" {
			delete(obj, d.TimeKey)
			vals[d.TimeKey] = t // its text, as printed
		}
		flatten("", obj, vals, &errs)
		return vals, errs
	}
	vals := map[string]any{}
	var errs []error
	for i, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("line %d: want field=value, got %q", i+1, line))
			continue
		}
		if k == d.TimeKey {
			vals[k] = v // its text, as printed
			continue
		}
		vals[k] = config.Scalar(v)
	}
	return vals, errs
}

func flatten(prefix string, obj map[string]any, out map[string]any, errs *[]error) {
	for k, v := range obj {
		key := prefix + k
		switch x := v.(type) {
		case map[string]any:
			flatten(key+".", x, out, errs)
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				*errs = append(*errs, fmt.Errorf("%s: %w", key, err))
				continue
			}
			out[key] = f
		case bool, string:
			out[key] = x
		case nil:
			// null: no reading this round.
		default:
			*errs = append(*errs, fmt.Errorf("%s: unsupported JSON value %T", key, v))
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
