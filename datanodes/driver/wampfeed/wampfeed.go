// Package wampfeed is a data-node driver subscribing to OCS (Observatory
// Control System) agent feeds on a WAMP router: one wildcard subscription
// takes every agent's feeds, and each block's timestamps and data become
// readings of fields named after the agent address and the data key.
package wampfeed

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/driver/config"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

//go:embed sample.yaml
var sample string

func init() {
	driver.Register(driver.Registration{
		Name:   "wampfeed",
		Usage:  "subscribes to OCS agent feeds (<root>.<agent>.feeds.<feed>) on a WAMP router",
		Sample: sample,
		New:    func() driver.Driver { return New() },
	})
}

// Driver subscribes to OCS feeds. Its exported fields are its YAML block.
type Driver struct {
	Type     string        `yaml:"type"`
	Router   wampx.Config  `yaml:"router"`
	Root     string        `yaml:"root"`
	Agents   []string      `yaml:"agents"`
	Feeds    []string      `yaml:"feeds"`
	Prefix   string        `yaml:"prefix"`
	Interval time.Duration `yaml:"interval"`
	// FieldNames is NamesSisock (the default) or NamesAddress.
	FieldNames string `yaml:"field_names"`
	// TimeUnit is the unit of the feeds' timestamps: s (OCS's own), ms,
	// us, ns or auto (the default: told apart by magnitude, see
	// config.TimeUnit).
	TimeUnit config.TimeUnit `yaml:"time_unit"`

	// Logger receives the session's own messages; nil discards them.
	Logger *slog.Logger `yaml:"-"`

	dial wampx.Dialer

	mu     sync.Mutex
	types  map[string]string
	owners map[string]string // field -> the agent feeding it
}

// Field naming schemes.
const (
	// NamesSisock names fields as sisock's data_feed_server did: the data
	// key lower-cased with spaces as "_", so Grafana targets written for
	// sisock (<node>::<field>) carry over; one agent per node.
	NamesSisock = "sisock"
	// NamesAddress prefixes the agent address, so one node can take every
	// agent: <agent_address>.<key>.
	NamesAddress = "address"
)

// New returns a driver with the default configuration.
func New() *Driver {
	return &Driver{Root: "observatory"}
}

// Init validates the configuration and prepares the dialer.
func (d *Driver) Init() error {
	if d.Root == "" || strings.Contains(d.Root, "..") || strings.HasSuffix(d.Root, ".") {
		return fmt.Errorf("wampfeed: bad root %q", d.Root)
	}
	switch d.FieldNames {
	case "":
		d.FieldNames = NamesSisock
	case NamesSisock, NamesAddress:
	default:
		return fmt.Errorf("wampfeed: field_names %q (want sisock or address)", d.FieldNames)
	}
	if err := d.TimeUnit.Check(); err != nil {
		return fmt.Errorf("wampfeed: time_unit: %w", err)
	}
	if d.TimeUnit == "" {
		d.TimeUnit = config.UnitAuto
	}
	if d.Router.Realm == "" {
		return errors.New("wampfeed: router.realm must not be empty")
	}
	dial, err := d.Router.Dialer(d.Logger)
	if err != nil {
		return fmt.Errorf("wampfeed: router: %w", err)
	}
	d.dial = dial
	return nil
}

// Topic is the wildcard topic the driver subscribes to.
func (d *Driver) Topic() string { return d.Root + "..feeds." }

// Run keeps a subscription to every agent's feeds until ctx ends.
func (d *Driver) Run(ctx context.Context, sink driver.Sink) error {
	if d.dial == nil {
		if err := d.Init(); err != nil {
			return err
		}
	}
	// Report each failed dial, not only the logger's view of it.
	dial := func(ctx context.Context) (*client.Client, error) {
		c, err := d.dial(ctx)
		if err != nil && ctx.Err() == nil {
			sink.Error(fmt.Errorf("wampfeed: %w", err))
		}
		return c, err
	}
	err := wampx.Keep(ctx, dial, wampx.Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second}, d.Logger, wampx.SessionOptions{},
		func(ctx context.Context, c *wampx.Session) error {
			err := c.Subscribe(d.Topic(), func(ev *wamp.Event) { d.Handle(sink, ev) },
				wamp.Dict{"match": "wildcard"})
			if err != nil {
				sink.Error(fmt.Errorf("wampfeed: subscribe %s: %w", d.Topic(), err))
			}
			return err
		})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Handle turns one feed event into readings.
func (d *Driver) Handle(sink driver.Sink, ev *wamp.Event) {
	topic, _ := wamp.AsString(ev.Details["topic"])
	if err := d.handle(sink, topic, ev.Arguments); err != nil {
		sink.Error(fmt.Errorf("wampfeed: event on %s: %w", topic, err))
	}
}

// block is one block of a feed message: its timestamps and, per data key,
// the values aligned with them.
type block struct {
	name string
	ts   []any
	data wamp.Dict // key -> []any, one value per timestamp
}

// splitEvent takes OCS's event apart: one positional argument, the pair
// (message, feed_data), as ocs_feed.py publishes it. Two arguments
// (message, feed_data) are accepted too.
func splitEvent(args wamp.List) (message, feedData wamp.Dict, err error) {
	if len(args) < 1 {
		return nil, nil, errors.New("no argument, want the pair (message, feed_data)")
	}
	first := args[0]
	if pair, ok := wamp.AsList(first); ok {
		if len(pair) != 2 {
			return nil, nil, fmt.Errorf("argument is a list of %d, want the pair (message, feed_data)", len(pair))
		}
		first = pair[0]
		if feedData, ok = wamp.AsDict(pair[1]); !ok {
			return nil, nil, fmt.Errorf("feed_data is %T, want a map", pair[1])
		}
	} else if len(args) > 1 {
		feedData, _ = wamp.AsDict(args[1])
	}
	if message, ok := wamp.AsDict(first); ok {
		return message, feedData, nil
	}
	return nil, nil, fmt.Errorf("message is %T, want a map", first)
}

// blocks returns the blocks of a message: a recorded feed's message maps
// block names to blocks; an unrecorded feed's is the agent's own message,
// one block with "timestamp" and a value per key, or "timestamps" and a
// list per key.
func blocks(message, feedData wamp.Dict) ([]block, []error) {
	record, hasRecord := feedData["record"].(bool)
	_, topData := message["data"]
	if (hasRecord && !record) || (!hasRecord && topData) {
		name, _ := wamp.AsString(message["block_name"])
		b, err := toBlock(name, message)
		if err != nil {
			return nil, []error{err}
		}
		return []block{b}, nil
	}
	var out []block
	var errs []error
	for _, name := range sortedKeys(message) {
		m, ok := wamp.AsDict(message[name])
		if !ok {
			errs = append(errs, fmt.Errorf("block %s is not a map", name))
			continue
		}
		if bn, ok := wamp.AsString(m["block_name"]); ok && bn != "" {
			name = bn
		}
		b, err := toBlock(name, m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, b)
	}
	return out, errs
}

func toBlock(name string, m wamp.Dict) (block, error) {
	if name == "" {
		name = "block"
	}
	data, ok := wamp.AsDict(m["data"])
	if !ok {
		return block{}, fmt.Errorf("block %s has no data map", name)
	}
	if v := m["timestamps"]; v != nil {
		ts, ok := wamp.AsList(v)
		if !ok {
			return block{}, fmt.Errorf("block %s: timestamps is %T, want a list", name, v)
		}
		return block{name: name, ts: ts, data: data}, nil
	}
	if t, ok := m["timestamp"]; ok && t != nil {
		// One sample: each key holds a single value.
		one := wamp.Dict{}
		for k, v := range data {
			if _, isList := wamp.AsList(v); isList {
				one[k] = v // reported below as misaligned unless of length 1
			} else {
				one[k] = []any{v}
			}
		}
		return block{name: name, ts: []any{t}, data: one}, nil
	}
	return block{}, fmt.Errorf("block %s has neither timestamps nor timestamp", name)
}

// names returns a data key's field and timeline names. As sisock's
// data_feed_server served them: the key lower-cased with spaces as "_",
// on timeline <agent_address>.<field>; with field_names "address":
// <agent_address>.<key> on timeline <agent_address>.<block_name>.
func (d *Driver) names(agent, blockName, key string) (field, timeline string) {
	k := strings.ReplaceAll(strings.ToLower(key), " ", "_")
	if d.FieldNames == NamesAddress {
		return d.Prefix + config.Sanitize(agent+"."+k), config.Sanitize(agent + "." + blockName)
	}
	f := config.Sanitize(k)
	return d.Prefix + f, config.Sanitize(agent + "." + f)
}

func (d *Driver) handle(sink driver.Sink, topic string, args wamp.List) error {
	message, feedData, err := splitEvent(args)
	if err != nil {
		return err
	}
	agent, feed := "", ""
	if s, ok := wamp.AsString(feedData["agent_address"]); ok {
		agent = s
	}
	if s, ok := wamp.AsString(feedData["feed_name"]); ok {
		feed = s
	}
	if i := strings.LastIndex(topic, ".feeds."); i > 0 {
		if agent == "" {
			agent = topic[:i]
		}
		if feed == "" {
			feed = topic[i+len(".feeds."):]
		}
	}
	if agent == "" {
		return errors.New("no agent address in feed_data or topic")
	}
	if len(d.Agents) > 0 && !slices.Contains(d.Agents, strings.TrimPrefix(agent, d.Root+".")) {
		return nil
	}
	if len(d.Feeds) > 0 && !slices.Contains(d.Feeds, feed) {
		return nil
	}
	bs, errs := blocks(message, feedData)
	var rs []protocol.Reading
	var fresh []driver.Field
	d.mu.Lock()
	if d.types == nil {
		d.types, d.owners = map[string]string{}, map[string]string{}
	}
	for _, b := range bs {
		ts := make([]int64, len(b.ts))
		var bad error
		for i, v := range b.ts {
			f, err := wampx.Float("timestamp", v)
			if err == nil {
				ts[i], err = d.TimeUnit.Nanos(f)
			}
			if err != nil {
				bad = fmt.Errorf("timestamp %d (%v): %w", i, v, err)
				break
			}
		}
		if bad != nil {
			// The block's readings are skipped: say whose they were.
			var fields []string
			for _, key := range sortedKeys(b.data) {
				f, _ := d.names(agent, b.name, key)
				fields = append(fields, f)
			}
			errs = append(errs, fmt.Errorf("block %s (fields %s) skipped: %w", b.name, strings.Join(fields, ", "), bad))
			continue
		}
		for _, key := range sortedKeys(b.data) {
			vals, ok := wamp.AsList(b.data[key])
			if !ok || len(vals) != len(ts) {
				errs = append(errs, fmt.Errorf("block %s key %s: want %d values", b.name, key, len(ts)))
				continue
			}
			field, timeline := d.names(agent, b.name, key)
			if owner, ok := d.owners[field]; ok && owner != agent {
				errs = append(errs, fmt.Errorf("field %s is fed by agent %s already, not by %s (limit agents to one per node, or set field_names: address)", field, owner, agent))
				continue
			}
			for i, v := range vals {
				val, typ := value(v)
				if typ == "" {
					continue // null or a nested value: no reading
				}
				if old, ok := d.types[field]; ok && old != typ {
					errs = append(errs, fmt.Errorf("field %s changed type from %s to %s", field, old, typ))
					continue
				} else if !ok {
					d.types[field], d.owners[field] = typ, agent
					fresh = append(fresh, driver.Field{Name: field, Type: typ, Timeline: timeline, Interval: d.Interval,
						Description: fmt.Sprintf("%s of OCS agent %s, feed %s", key, agent, feed)})
				}
				rs = append(rs, protocol.Reading{Field: field, Time: ts[i], Value: val})
			}
		}
	}
	if len(fresh) > 0 {
		sink.Declare(fresh...)
	}
	d.mu.Unlock()
	if len(rs) > 0 {
		sink.Emit(rs...)
	}
	return errors.Join(errs...)
}

func value(v any) (any, string) {
	switch x := v.(type) {
	case bool:
		return x, protocol.TypeBool
	case string:
		return x, protocol.TypeString
	case nil:
		return nil, ""
	}
	f, err := wampx.Float("value", v)
	if err != nil {
		return nil, ""
	}
	return f, protocol.TypeNumber
}

func sortedKeys(m wamp.Dict) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
