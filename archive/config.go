package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of Config.
const (
	DefaultListen         = "127.0.0.1:9466"
	DefaultWindow         = 10 * time.Minute
	DefaultVerifyInterval = 10 * time.Second
	DefaultBatchSize      = 5000
	DefaultLiveQueue      = 64
	DefaultRefresh        = time.Minute
)

// Config is the archiver's configuration file.
type Config struct {
	// DataDir holds the cursor file (cursors.sqlite).
	DataDir string `yaml:"data_dir"`
	// Listen is the address of /metrics and /status; "-" for none.
	Listen string `yaml:"listen"`
	// Since is where the cursor of a field never archived before starts:
	// "all" (the default) or how far back from now, e.g. 24h or 30d.
	Since string `yaml:"since"`
	// Nodes are name patterns (path.Match) of the nodes to archive; empty
	// for every node.
	Nodes []string `yaml:"nodes"`
	// Window is the longest time slice one catch-up get_data asks for.
	Window Duration `yaml:"window"`
	// VerifyInterval is how often live points are confirmed against the
	// node's store, which moves the cursors.
	VerifyInterval Duration `yaml:"verify_interval"`
	// Refresh is how often the node list is re-read besides hub events.
	Refresh Duration `yaml:"refresh"`
	// BatchSize is the most points one sink write carries.
	BatchSize int `yaml:"batch_size"`
	// LiveQueue is how many live batches wait per sink and node; beyond
	// it live readings are dropped and read back from the node's store.
	LiveQueue int `yaml:"live_queue"`
	// Sinks are the engines to write to.
	Sinks []SinkConfig `yaml:"sinks"`

	since time.Duration // parsed Since; 0 = all
}

// SinkConfig is one sink's block: its type and name, and the type's own
// settings.
type SinkConfig struct {
	Type  string
	Name  string
	Block []byte
}

// UnmarshalYAML keeps the whole block for the sink type to decode.
func (s *SinkConfig) UnmarshalYAML(n *yaml.Node) error {
	var head struct {
		Type string `yaml:"type"`
		Name string `yaml:"name"`
	}
	if err := n.Decode(&head); err != nil {
		return err
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	s.Type, s.Name, s.Block = head.Type, head.Name, b
	return nil
}

// Duration is a time.Duration written as a Go duration or as Nd (days).
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses "90s", "10m", "7d".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q (want e.g. 90s, 10m, 24h or 7d)", s)
		}
		return time.Duration(n * 24 * float64(time.Hour)), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want e.g. 90s, 10m, 24h or 7d)", s)
	}
	return v, nil
}

// SetDefaults fills in what the file leaves out.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Since == "" {
		c.Since = "all"
	}
	if c.Window == 0 {
		c.Window = Duration(DefaultWindow)
	}
	if c.VerifyInterval == 0 {
		c.VerifyInterval = Duration(DefaultVerifyInterval)
	}
	if c.Refresh == 0 {
		c.Refresh = Duration(DefaultRefresh)
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.LiveQueue == 0 {
		c.LiveQueue = DefaultLiveQueue
	}
}

// Validate checks the settings and opens no connection; each problem is
// one line naming its setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.DataDir == "" {
		bad("data_dir: missing (the directory of the cursor file)")
	}
	if c.Since != "all" {
		d, err := parseDuration(c.Since)
		if err != nil || d <= 0 {
			bad("since: %q: want all or a positive duration such as 24h or 30d", c.Since)
		}
		c.since = d
	}
	for i, p := range c.Nodes {
		if _, err := path.Match(p, ""); err != nil {
			bad("nodes[%d]: bad pattern %q: %v", i, p, err)
		}
	}
	if c.Window.D() < time.Second {
		bad("window: %v is too short (at least 1s)", c.Window.D())
	}
	if c.VerifyInterval.D() < 100*time.Millisecond {
		bad("verify_interval: %v is too short (at least 100ms)", c.VerifyInterval.D())
	}
	if c.Refresh.D() < time.Second {
		bad("refresh: %v is too short (at least 1s)", c.Refresh.D())
	}
	if c.BatchSize < 1 || c.BatchSize > 1_000_000 {
		bad("batch_size: %d is out of range (1 to 1000000)", c.BatchSize)
	}
	if c.LiveQueue < 1 || c.LiveQueue > 100_000 {
		bad("live_queue: %d is out of range (1 to 100000)", c.LiveQueue)
	}
	if len(c.Sinks) == 0 {
		bad("sinks: none configured (want at least one, e.g. type: influx)")
	}
	seen := map[string]bool{}
	for i, s := range c.Sinks {
		where := fmt.Sprintf("sinks[%d]", i)
		if s.Name == "" {
			bad("%s.name: missing (each sink needs a name for its cursors and metrics)", where)
		} else if seen[s.Name] {
			bad("%s.name: %q is used twice", where, s.Name)
		}
		seen[s.Name] = true
		if _, ok := sinkType(s.Type); !ok {
			bad("%s.type: unknown sink type %q (want one of %s)", where, s.Type, strings.Join(typeNames(), ", "))
		}
	}
	return errors.Join(errs...)
}

// OpenSinks opens every configured sink; errors name the sink.
func (c *Config) OpenSinks() (map[string]Sink, error) {
	out := map[string]Sink{}
	var errs []error
	for i, s := range c.Sinks {
		t, _ := sinkType(s.Type)
		sk, err := t.Open(s.Block)
		if err != nil {
			errs = append(errs, fmt.Errorf("sinks[%d] (%s %q): %w", i, s.Type, s.Name, err))
			continue
		}
		out[s.Name] = sk
	}
	if len(errs) > 0 {
		for _, sk := range out {
			sk.Close()
		}
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func typeNames() []string {
	var out []string
	for _, t := range SinkTypes() {
		out = append(out, t.Name)
	}
	return out
}

// LoadConfig reads, defaults and validates a configuration file, and
// checks every sink's block by opening it; errors name the file.
func LoadConfig(file string) (Config, map[string]Sink, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Config{}, nil, err
	}
	c, sinks, err := ParseConfig(bytes.NewReader(b))
	if err != nil {
		return c, nil, fmt.Errorf("%s: %w", file, err)
	}
	return c, sinks, nil
}

// ParseConfig is LoadConfig on a reader.
func ParseConfig(r io.Reader) (Config, map[string]Sink, error) {
	var c Config
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, nil, yamlErr(err, false)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return c, nil, err
	}
	sinks, err := c.OpenSinks()
	return c, sinks, err
}

// DecodeBlock strictly decodes a sink's block into v, which must have
// type and name members (or ignore them with yaml:"-" and Head).
func DecodeBlock(block []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(block))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return yamlErr(err, true)
	}
	return nil
}

// yamlErr gives one line per problem. A sink's block is decoded again on
// its own, so its line numbers would mislead: they are dropped.
func yamlErr(err error, dropLines bool) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	errs := make([]error, len(te.Errors))
	for i, e := range te.Errors {
		if dropLines {
			if _, rest, ok := strings.Cut(e, ": "); ok && strings.HasPrefix(e, "line ") {
				e = rest
			}
		}
		errs[i] = errors.New(e)
	}
	return errors.Join(errs...)
}

// OpenBlock strictly decodes a sink's block into its configuration type C
// and builds the sink with build.
func OpenBlock[C any, S Sink](block []byte, build func(C) (S, error)) (S, error) {
	var c C
	if err := DecodeBlock(block, &c); err != nil {
		var zero S
		return zero, err
	}
	return build(c)
}

// Opener adapts a sink package's typed Open to SinkType.Open.
func Opener[S Sink](open func([]byte) (S, error)) func([]byte) (Sink, error) {
	return func(b []byte) (Sink, error) {
		s, err := open(b)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// Head is embedded (yaml:",inline") by sink configurations for the
// members every sink block has.
type Head struct {
	Type string `yaml:"type"`
	Name string `yaml:"name"`
}

func (c *Config) match(node string) bool {
	if len(c.Nodes) == 0 {
		return true
	}
	for _, p := range c.Nodes {
		if ok, _ := path.Match(p, node); ok {
			return true
		}
	}
	return false
}

// start returns where a new cursor starts, in float seconds.
func (c *Config) start(now time.Time) float64 {
	if c.since <= 0 {
		return 1e-6 // all time (a time > 0 is absolute on the wire)
	}
	return float64(now.Add(-c.since).UnixNano()) / 1e9
}
