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

	// Logger receives the session's own messages; nil discards them.
	Logger *slog.Logger `yaml:"-"`

	dial wampx.Dialer

	mu    sync.Mutex
	types map[string]string
}

// New returns a driver with the default configuration.
func New() *Driver {
	return &Driver{Root: "observatory"}
}

// Init validates the configuration and prepares the dialer.
func (d *Driver) Init() error {
	if d.Root == "" || strings.Contains(d.Root, "..") || strings.HasSuffix(d.Root, ".") {
		return fmt.Errorf("wampfeed: bad root %q", d.Root)
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

func (d *Driver) handle(sink driver.Sink, topic string, args wamp.List) error {
	if len(args) < 1 {
		return errors.New("no message argument")
	}
	message, ok := wamp.AsDict(args[0])
	if !ok {
		return fmt.Errorf("message is %T, want a map", args[0])
	}
	var feedData wamp.Dict
	if len(args) > 1 {
		feedData, _ = wamp.AsDict(args[1])
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
	var errs []error
	var rs []protocol.Reading
	var fresh []driver.Field
	d.mu.Lock()
	if d.types == nil {
		d.types = map[string]string{}
	}
	for _, name := range sortedKeys(message) {
		block, ok := wamp.AsDict(message[name])
		if !ok {
			errs = append(errs, fmt.Errorf("block %s is not a map", name))
			continue
		}
		if bn, ok := wamp.AsString(block["block_name"]); ok && bn != "" {
			name = bn
		}
		tsList, ok := wamp.AsList(block["timestamps"])
		if !ok {
			errs = append(errs, fmt.Errorf("block %s has no timestamps list", name))
			continue
		}
		ts := make([]int64, len(tsList))
		bad := false
		for i, v := range tsList {
			f, err := wampx.Float("timestamp", v)
			if err != nil {
				bad = true
				break
			}
			ts[i] = protocol.ToNanos(f)
		}
		if bad {
			errs = append(errs, fmt.Errorf("block %s has a bad timestamp", name))
			continue
		}
		data, ok := wamp.AsDict(block["data"])
		if !ok {
			errs = append(errs, fmt.Errorf("block %s has no data map", name))
			continue
		}
		timeline := config.Sanitize(agent + "." + name)
		for _, key := range sortedKeys(data) {
			vals, ok := wamp.AsList(data[key])
			if !ok || len(vals) != len(ts) {
				errs = append(errs, fmt.Errorf("block %s key %s: want %d values", name, key, len(ts)))
				continue
			}
			field := d.Prefix + config.Sanitize(agent+"."+strings.ReplaceAll(strings.ToLower(key), " ", "_"))
			for i, v := range vals {
				val, typ := value(v)
				if typ == "" {
					continue // null or a nested value: no reading
				}
				if old, ok := d.types[field]; ok && old != typ {
					errs = append(errs, fmt.Errorf("field %s changed type from %s to %s", field, old, typ))
					continue
				} else if !ok {
					d.types[field] = typ
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
