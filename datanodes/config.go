// Package datanodes is the telemesh data node: it runs drivers that measure
// things, keeps their readings in a store, publishes them live, and answers
// the sisock-compatible get_fields and get_data procedures over WAMP while
// announcing itself to the hub.
package datanodes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
	"gopkg.in/yaml.v3"
)

// Defaults of a node configuration.
const (
	DefaultMaxReplyBytes = 1 << 20
	DefaultFlushInterval = time.Second
	DefaultLiveInterval  = 250 * time.Millisecond
	DefaultLiveBatch     = 1000
	DefaultWatchdog      = time.Minute
	DefaultStopTimeout   = 5 * time.Second
	DefaultTimeFuture    = time.Minute
)

// Config is a data node's YAML file.
type Config struct {
	// Name is the node's name, one URI component.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Profile selects the naming profile (telemesh or sisock); Realm and
	// Base override its realm and base URI.
	Profile string `yaml:"profile"`
	Realm   string `yaml:"realm"`
	Base    string `yaml:"base"`
	// Router says how to reach the router; its realm defaults to Realm.
	Router wampx.Config `yaml:"router"`
	// DataDir holds the node's database, <data_dir>/<name>.db (default
	// ./data; telemesh up: its own data dir).
	DataDir string      `yaml:"data_dir"`
	Store   StoreConfig `yaml:"store"`
	// MaxReplyBytes bounds the size of one get_data reply (default 1 MiB).
	MaxReplyBytes int        `yaml:"max_reply_bytes"`
	Live          LiveConfig `yaml:"live"`
	// Drivers lists the drivers to run: each a map with "type" plus the
	// driver's own keys.
	Drivers []DriverConfig `yaml:"drivers"`
	// Health serves the node's health and metrics over HTTP.
	Health HealthConfig `yaml:"health"`
	// StopTimeout bounds how long the node takes to stop once asked
	// (drivers, goodbye to the hub, session, final flush); default 5s.
	StopTimeout Duration `yaml:"stop_timeout"`
	// Clock is the node's one clock: request times relative to now,
	// finalized_until and the live topic's age cut-off; nil is time.Now.
	Clock func() time.Time `yaml:"-"`
	// Limits maps a field name to its warning and alarm ranges (see
	// limits.go); they win over limits a driver declares.
	Limits map[string]protocol.Limits `yaml:"limits"`
	// Time is the plausible window for reading times.
	Time TimeConfig `yaml:"time"`
}

// TimeConfig bounds the times a reading may carry; readings outside are
// refused (counted as sink errors, logged once per field).
type TimeConfig struct {
	// Future is how far ahead of the node's clock a reading may be
	// (default 1m).
	Future Duration `yaml:"future"`
	// BeforeEpoch accepts readings dated before 1970 (off by default: a
	// negative time is nearly always a wrapped or misread timestamp).
	BeforeEpoch bool `yaml:"before_epoch"`
}

// HealthConfig tunes the node's watchdog and its health endpoint.
type HealthConfig struct {
	// Listen is the address of /healthz and /metrics (e.g.
	// 127.0.0.1:9101); empty serves none.
	Listen string `yaml:"listen"`
	// Watchdog is how long the node may stay unregistered with the hub
	// before it logs so and reports itself unhealthy (default 1m).
	Watchdog Duration `yaml:"watchdog"`
}

// StoreConfig tunes the node's store.
type StoreConfig struct {
	// FlushInterval is how long a reading may wait before a flush commits
	// it; get_data reports data older than it as finalized. A crash
	// (SIGKILL, power cut) loses the readings not committed yet: those of
	// the last flush_interval plus the time a flush takes to commit
	// (/metrics: telemesh_node_store_flush_seconds_max, and
	// telemesh_node_store_lag_seconds_max for the whole wait).
	FlushInterval Duration `yaml:"flush_interval"`
	// MaxBuffered bounds the readings held in memory while the store
	// cannot write (a full disk); beyond, they go to spill files in
	// SpillDir, or are dropped (counted, logged) if that fails too
	// (default 1048576, about 16 to 32 MB of numbers).
	MaxBuffered int `yaml:"max_buffered"`
	// SpillDir keeps readings the store cannot write, through a stop
	// too, until it can (default: data_dir). Put it on another file
	// system to keep them through a full data disk.
	SpillDir string `yaml:"spill_dir"`
	// Retention maps a storage tier (raw, 10s, minute, 10m, hour, day) to how long it
	// is kept; unset tiers are kept forever, except 10s (3 days by default).
	Retention map[string]Duration `yaml:"retention"`
}

// LiveConfig tunes the live topic B.consumer.N.data.
type LiveConfig struct {
	// Interval between live batches (default 250ms).
	Interval Duration `yaml:"interval"`
	// MaxBatch publishes early once this many readings wait (default 1000).
	MaxBatch int `yaml:"max_batch"`
}

// DriverConfig is one entry of the drivers list: the driver type and the
// rest of the block, decoded strictly into the driver's own configuration.
type DriverConfig struct {
	Type string
	// Block is the driver's YAML block without the type key.
	Block []byte
}

// UnmarshalYAML keeps the block for strict decoding once the type is known.
func (d *DriverConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a driver must be a map with a type key", n.Line)
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "type" {
			d.Type = v.Value
			continue
		}
		rest.Content = append(rest.Content, k, v)
	}
	if d.Type == "" {
		return fmt.Errorf("line %d: driver without a type", n.Line)
	}
	if len(rest.Content) > 0 {
		b, err := yaml.Marshal(rest)
		if err != nil {
			return err
		}
		d.Block = b
	}
	return nil
}

// MarshalYAML writes the block back with its type.
func (d DriverConfig) MarshalYAML() (any, error) {
	m := map[string]any{}
	if len(d.Block) > 0 {
		if err := yaml.Unmarshal(d.Block, &m); err != nil {
			return nil, err
		}
	}
	m["type"] = d.Type
	return m, nil
}

// Build returns the configured driver: the registry's default value with
// the block decoded into it strictly, then initialized.
func (d DriverConfig) Build() (driver.Driver, error) {
	reg, ok := driver.Lookup(d.Type)
	if !ok {
		return nil, fmt.Errorf("unknown driver type %q (registered: %s)", d.Type, strings.Join(driver.Names(), ", "))
	}
	drv := reg.New()
	if len(d.Block) > 0 {
		if err := DecodeStrict(bytes.NewReader(d.Block), drv); err != nil {
			return nil, fmt.Errorf("driver %s: %w", d.Type, err)
		}
	}
	if in, ok := drv.(driver.Initializer); ok {
		if err := in.Init(); err != nil {
			return nil, fmt.Errorf("driver %s: %w", d.Type, err)
		}
	}
	return drv, nil
}

// DecodeStrict decodes YAML into v, rejecting unknown keys; an empty
// document leaves v unchanged.
func DecodeStrict(r io.Reader, v any) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Duration is a time.Duration that YAML spells like "250ms", "1h" or "7d".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts Go durations plus d (day) and w (week) units.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ParseDuration is protocol.ParseDuration: Go durations plus d and w.
func ParseDuration(s string) (time.Duration, error) { return protocol.ParseDuration(s) }

// Names returns the protocol names the profile, realm and base select.
func (c Config) Names() (protocol.Names, error) {
	n, err := protocol.Profile(c.Profile)
	if err != nil {
		return n, err
	}
	if c.Realm != "" {
		n.Realm = c.Realm
	}
	if c.Base != "" {
		n.Base = c.Base
	}
	return n, nil
}

// SetDefaults fills in every unset value.
func (c *Config) SetDefaults() {
	if c.MaxReplyBytes == 0 {
		c.MaxReplyBytes = DefaultMaxReplyBytes
	}
	if c.Store.FlushInterval == 0 {
		c.Store.FlushInterval = Duration(DefaultFlushInterval)
	}
	if c.Live.Interval == 0 {
		c.Live.Interval = Duration(DefaultLiveInterval)
	}
	if c.Live.MaxBatch == 0 {
		c.Live.MaxBatch = DefaultLiveBatch
	}
	if c.Health.Watchdog == 0 {
		c.Health.Watchdog = Duration(DefaultWatchdog)
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = Duration(DefaultStopTimeout)
	}
	if c.Time.Future == 0 {
		c.Time.Future = Duration(DefaultTimeFuture)
	}
	if n, err := c.Names(); err == nil && c.Router.Realm == "" {
		c.Router.Realm = n.Realm
	}
}

// Validate reports the first problem of a configuration with defaults set.
func (c Config) Validate() error {
	if err := protocol.CheckNodeName(c.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if _, err := c.Names(); err != nil {
		return err
	}
	for f, l := range c.Limits {
		if err := checkLimits(f, l); err != nil {
			return err
		}
	}
	if c.MaxReplyBytes < 4096 {
		return fmt.Errorf("max_reply_bytes %d is too small (minimum 4096)", c.MaxReplyBytes)
	}
	if c.Store.FlushInterval < 0 {
		return errors.New("store.flush_interval must not be negative")
	}
	if c.Store.MaxBuffered < 0 {
		return errors.New("store.max_buffered must not be negative")
	}
	for tier, d := range c.Store.Retention {
		switch tier {
		case "raw", "10s", "minute", "10m", "hour", "day":
		default:
			return fmt.Errorf("store.retention: unknown tier %q (want raw, 10s, minute, 10m, hour or day)", tier)
		}
		if d < 0 {
			return fmt.Errorf("store.retention.%s must not be negative", tier)
		}
	}
	if c.Live.Interval <= 0 {
		return errors.New("live.interval must be positive")
	}
	if c.Live.MaxBatch < 1 {
		return errors.New("live.max_batch must be positive")
	}
	if c.Health.Watchdog < 0 {
		return errors.New("health.watchdog must not be negative")
	}
	if c.StopTimeout < 0 {
		return errors.New("stop_timeout must not be negative")
	}
	for i, d := range c.Drivers {
		if _, ok := driver.Lookup(d.Type); !ok {
			return fmt.Errorf("drivers[%d]: unknown driver type %q (registered: %s)", i, d.Type, strings.Join(driver.Names(), ", "))
		}
	}
	return nil
}

// LoadConfig reads a node file strictly: unknown keys are errors naming
// the key and the file. Defaults are set and the result validated; each
// driver block is decoded into its driver to check it too.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("node config: %w", err)
	}
	if err := DecodeStrict(bytes.NewReader(b), &c); err != nil {
		return c, fmt.Errorf("node config %s: %w", path, err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("node config %s: %w", path, err)
	}
	for i, d := range c.Drivers {
		if _, err := d.Build(); err != nil {
			return c, fmt.Errorf("node config %s: drivers[%d]: %w", path, i, err)
		}
	}
	return c, nil
}
