// Package mqtt is a data-node driver subscribing to an MQTT broker
// (eclipse/paho) and turning JSON or plain payloads into readings, with a
// preset for simoc-sam sensors. It reconnects by itself when the broker
// goes away and re-subscribes.
package mqtt

import (
	"bytes"
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/driver/config"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

//go:embed sample.yaml
var sample string

func init() {
	driver.Register(driver.Registration{
		Name:   "mqtt",
		Usage:  "subscribes to MQTT topics and maps JSON payloads to fields (simoc-sam preset)",
		Sample: sample,
		New:    func() driver.Driver { return New() },
	})
}

// Payload says how to read a message.
type Payload struct {
	Format     string `yaml:"format"`
	TimeKey    string `yaml:"time_key"`
	TimeLayout string `yaml:"time_layout"`
	// TimeUnit is the unit of an epoch time_layout: s, ms, us, ns or
	// auto (the default: told apart by magnitude, see config.TimeUnit).
	TimeUnit config.TimeUnit `yaml:"time_unit"`
	TimeZone string          `yaml:"time_zone"`
	Ignore   []string        `yaml:"ignore"`
	Keys     []string        `yaml:"keys"`
}

// Driver subscribes to MQTT topics. Its exported fields are its YAML block.
type Driver struct {
	Type         string                      `yaml:"type"`
	Preset       string                      `yaml:"preset"`
	Broker       string                      `yaml:"broker"`
	ClientID     string                      `yaml:"client_id"`
	Username     string                      `yaml:"username"`
	Password     string                      `yaml:"password"`
	PasswordFile string                      `yaml:"password_file"`
	CAFile       string                      `yaml:"ca_file"`
	CertFile     string                      `yaml:"cert_file"`
	KeyFile      string                      `yaml:"key_file"`
	QoS          int                         `yaml:"qos"`
	CleanSession *bool                       `yaml:"clean_session"`
	Topics       []string                    `yaml:"topics"`
	Payload      Payload                     `yaml:"payload"`
	Field        string                      `yaml:"field"`
	Timeline     string                      `yaml:"timeline"`
	Interval     time.Duration               `yaml:"interval"`
	MetaKey      string                      `yaml:"meta_key"`
	Metadata     map[string]config.FieldMeta `yaml:"metadata"`

	loc *time.Location

	mu    sync.Mutex
	types map[string]string
}

// New returns a driver with the default configuration.
func New() *Driver {
	return &Driver{Broker: "tcp://127.0.0.1:1883", QoS: 1, Payload: Payload{Format: "json"}}
}

// simocMeta is simoc-sam's sensors.toml as units and descriptions, keyed
// by sensor.field.
var simocMeta = map[string]config.FieldMeta{
	"scd30.co2": {Units: "ppm", Description: "CO2 concentration (SCD-30)"}, "scd30.temperature": {Units: "°C", Description: "temperature (SCD-30)"}, "scd30.humidity": {Units: "%", Description: "relative humidity (SCD-30)"},
	"scd41.co2": {Units: "ppm", Description: "CO2 concentration (SCD-41)"}, "scd41.temperature": {Units: "°C", Description: "temperature (SCD-41)"}, "scd41.humidity": {Units: "%", Description: "relative humidity (SCD-41)"},
	"sgp30.eco2": {Units: "ppm", Description: "equivalent CO2 (SGP30)"}, "sgp30.tvoc": {Units: "ppb", Description: "total volatile organic compounds (SGP30)"},
	"sgp30.h2": {Units: "", Description: "raw H2 signal (SGP30)"}, "sgp30.ethanol": {Units: "", Description: "raw ethanol signal (SGP30)"},
	"bme688.temperature": {Units: "°C", Description: "temperature (BME688)"}, "bme688.humidity": {Units: "%", Description: "relative humidity (BME688)"},
	"bme688.pressure": {Units: "hPa", Description: "pressure (BME688)"}, "bme688.altitude": {Units: "m", Description: "altitude (BME688)"}, "bme688.gas_resistance": {Units: "Ohm", Description: "gas resistance (BME688)"},
	"bmp388.temperature": {Units: "°C", Description: "temperature (BMP388)"}, "bmp388.pressure": {Units: "hPa", Description: "pressure (BMP388)"}, "bmp388.altitude": {Units: "m", Description: "altitude (BMP388)"},
	"tsl2591.light": {Units: "lux", Description: "light (TSL2591)"}, "veml7700.light": {Units: "lux", Description: "light (VEML7700)"},
	"mock.co2": {Units: "ppm", Description: "CO2 concentration (mock sensor)"}, "mock.temperature": {Units: "°C", Description: "temperature (mock sensor)"},
	"mock.humidity": {Units: "%", Description: "relative humidity (mock sensor)"}, "mock.pressure": {Units: "hPa", Description: "pressure (mock sensor)"}, "mock.altitude": {Units: "m", Description: "altitude (mock sensor)"},
}

// Init applies the preset and validates the configuration.
func (d *Driver) Init() error {
	switch d.Preset {
	case "":
	case "simoc_sam":
		if len(d.Topics) == 0 {
			d.Topics = []string{"+/+/+"}
		}
		if d.Field == "" {
			d.Field = "{topic.1}.{topic.2}.{key}"
		}
		if d.Timeline == "" {
			d.Timeline = "{topic.1}.{topic.2}"
		}
		if d.MetaKey == "" {
			d.MetaKey = "{topic.2}.{key}"
		}
		if d.Payload.TimeKey == "" {
			d.Payload.TimeKey = "timestamp"
		}
		if d.Payload.TimeLayout == "" {
			// simoc-sam stamps readings in the sensor host's local time.
			d.Payload.TimeLayout = "2006-01-02 15:04:05.999999"
		}
		if d.Payload.TimeZone == "" {
			d.Payload.TimeZone = "Local"
		}
		if d.Payload.Ignore == nil {
			d.Payload.Ignore = []string{"n"}
		}
		if d.Interval == 0 {
			d.Interval = 10 * time.Second
		}
		m := map[string]config.FieldMeta{}
		for k, v := range simocMeta {
			m[k] = v
		}
		for k, v := range d.Metadata {
			m[k] = v
		}
		d.Metadata = m
	default:
		return fmt.Errorf("mqtt: unknown preset %q (want simoc_sam)", d.Preset)
	}
	if d.Field == "" {
		d.Field = "{topic}.{key}"
	}
	if d.Payload.TimeLayout == "" {
		d.Payload.TimeLayout = "epoch"
	}
	if err := d.Payload.TimeUnit.Check(); err != nil {
		return fmt.Errorf("mqtt: payload.time_unit: %w", err)
	}
	switch d.Payload.TimeLayout {
	case "epoch":
		if d.Payload.TimeUnit == "" {
			d.Payload.TimeUnit = config.UnitAuto
		}
	case "epoch_ms":
		if d.Payload.TimeUnit != "" && d.Payload.TimeUnit != config.UnitMillis {
			return fmt.Errorf("mqtt: payload.time_layout epoch_ms and time_unit %s disagree", d.Payload.TimeUnit)
		}
		d.Payload.TimeLayout, d.Payload.TimeUnit = "epoch", config.UnitMillis
	default:
		if d.Payload.TimeUnit != "" && d.Payload.TimeUnit != config.UnitAuto {
			return fmt.Errorf("mqtt: payload.time_unit applies to epoch times, not to time_layout %q", d.Payload.TimeLayout)
		}
	}
	if d.Payload.TimeZone == "" {
		d.Payload.TimeZone = "UTC"
	}
	if d.Broker == "" {
		return errors.New("mqtt: broker must not be empty")
	}
	if !strings.Contains(d.Broker, "://") {
		return fmt.Errorf("mqtt: broker %q needs a scheme (tcp://, ssl://, ws://)", d.Broker)
	}
	if len(d.Topics) == 0 {
		return errors.New("mqtt: topics must not be empty")
	}
	if d.QoS < 0 || d.QoS > 2 {
		return fmt.Errorf("mqtt: qos %d: want 0, 1 or 2", d.QoS)
	}
	if d.CleanSession != nil && !*d.CleanSession && d.ClientID == "" {
		return errors.New("mqtt: clean_session false needs a fixed client_id")
	}
	switch d.Payload.Format {
	case "":
		d.Payload.Format = "json"
	case "json", "value":
	default:
		return fmt.Errorf("mqtt: payload.format %q: want json or value", d.Payload.Format)
	}
	var err error
	if d.loc, err = time.LoadLocation(d.Payload.TimeZone); err != nil {
		return fmt.Errorf("mqtt: payload.time_zone: %w", err)
	}
	if d.PasswordFile != "" {
		b, err := os.ReadFile(d.PasswordFile)
		if err != nil {
			return fmt.Errorf("mqtt: %w", err)
		}
		d.Password = strings.TrimSpace(string(b))
	}
	return nil
}

func (d *Driver) options(sink driver.Sink) (*paho.ClientOptions, error) {
	o := paho.NewClientOptions().AddBroker(d.Broker)
	id := d.ClientID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("telemesh-%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()%1e6)
	}
	o.SetClientID(id).SetUsername(d.Username).SetPassword(d.Password)
	o.SetCleanSession(d.CleanSession == nil || *d.CleanSession)
	o.SetAutoReconnect(true).SetMaxReconnectInterval(10 * time.Second).SetConnectTimeout(10 * time.Second)
	o.SetKeepAlive(30 * time.Second).SetOrderMatters(true).SetMessageChannelDepth(1024)
	if d.CAFile != "" || d.CertFile != "" || strings.HasPrefix(d.Broker, "ssl") || strings.HasPrefix(d.Broker, "wss") {
		tc, err := wampx.ClientTLS(d.CAFile, "")
		if err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
		if d.CertFile != "" {
			c, err := tls.LoadX509KeyPair(d.CertFile, d.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("mqtt: client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		o.SetTLSConfig(tc)
	}
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		sink.Error(fmt.Errorf("mqtt %s: connection lost: %w", d.Broker, err))
	})
	o.SetOnConnectHandler(func(c paho.Client) {
		// Subscriptions are renewed on every connection: a clean session
		// (or a restarted broker without persistence) forgets them.
		filters := map[string]byte{}
		for _, t := range d.Topics {
			filters[t] = byte(d.QoS)
		}
		tok := c.SubscribeMultiple(filters, func(_ paho.Client, m paho.Message) {
			d.Handle(sink, m.Topic(), m.Payload(), time.Now())
		})
		go func() {
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				err := tok.Error()
				if err == nil {
					err = errors.New("timed out")
				}
				sink.Error(fmt.Errorf("mqtt %s: subscribe %v: %w", d.Broker, d.Topics, err))
			}
		}()
	})
	return o, nil
}

// Run connects, subscribes and hands messages to sink until ctx ends.
func (d *Driver) Run(ctx context.Context, sink driver.Sink) error {
	o, err := d.options(sink)
	if err != nil {
		return err
	}
	c := paho.NewClient(o)
	defer c.Disconnect(250)
	b := config.Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second}
	// The first connection is retried here so that each failure is seen;
	// after it paho reconnects by itself.
	for {
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return nil
		}
		if tok.Error() == nil {
			break
		}
		sink.Error(fmt.Errorf("mqtt %s: connect: %w", d.Broker, tok.Error()))
		if !config.Sleep(ctx, b.Next()) {
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

// Handle turns one message into readings; Run calls it for each message.
func (d *Driver) Handle(sink driver.Sink, topic string, payload []byte, now time.Time) {
	values := map[string]any{}
	t := now.UnixNano()
	switch d.Payload.Format {
	case "value":
		values[""] = config.Scalar(strings.TrimSpace(string(payload)))
	default:
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			sink.Error(fmt.Errorf("mqtt %s: bad JSON payload %.80q: %w", topic, payload, err))
			return
		}
		if d.Payload.TimeKey != "" {
			if raw, ok := obj[d.Payload.TimeKey]; ok {
				tt, err := d.parseTime(raw)
				if err != nil {
					sink.Error(fmt.Errorf("mqtt %s: %s %w; using arrival time", topic, d.Payload.TimeKey, err))
				} else {
					t = tt
				}
				delete(obj, d.Payload.TimeKey)
			}
		}
		for _, k := range d.Payload.Ignore {
			delete(obj, k)
		}
		flatten("", obj, values)
	}
	segs := strings.Split(topic, "/")
	var fresh []driver.Field
	rs := make([]protocol.Reading, 0, len(values))
	d.mu.Lock()
	if d.types == nil {
		d.types = map[string]string{}
	}
	for key, v := range values {
		if len(d.Payload.Keys) > 0 && !contains(d.Payload.Keys, key) {
			continue
		}
		if n, ok := v.(json.Number); ok {
			f, err := n.Float64()
			if err != nil || math.IsInf(f, 0) {
				sink.Error(fmt.Errorf("mqtt %s: %s: bad number %s", topic, key, n))
				continue
			}
			v = f
		}
		typ := typeOf(v)
		if typ == "" {
			continue // lists and nulls are not readings
		}
		name := expand(d.Field, topic, segs, key)
		if !protocol.ValidFieldName(name) {
			name = config.Sanitize(name)
		}
		if old, ok := d.types[name]; ok && old != typ {
			sink.Error(fmt.Errorf("mqtt %s: field %s changed type from %s to %s; skipped", topic, name, old, typ))
			continue
		} else if !ok {
			d.types[name] = typ
			f := driver.Field{Name: name, Type: typ, Interval: d.Interval}
			if d.Timeline != "" {
				f.Timeline = config.Sanitize(expand(d.Timeline, topic, segs, key))
			}
			mk := key
			if d.MetaKey != "" {
				mk = expand(d.MetaKey, topic, segs, key)
			}
			if m, ok := d.Metadata[mk]; ok {
				f.Units, f.Description = m.Units, m.Description
			}
			fresh = append(fresh, f)
		}
		rs = append(rs, protocol.Reading{Field: name, Time: t, Value: v})
	}
	// Declaring under the lock keeps a field's declaration ahead of any
	// reading of it from a concurrent message.
	if len(fresh) > 0 {
		sink.Declare(fresh...)
	}
	d.mu.Unlock()
	if len(rs) > 0 {
		sink.Emit(rs...)
	}
}

func (d *Driver) parseTime(raw any) (int64, error) {
	if d.Payload.TimeLayout == "epoch" {
		switch v := raw.(type) {
		case json.Number:
			return d.Payload.TimeUnit.Parse(v.String())
		case string:
			return d.Payload.TimeUnit.Parse(v)
		}
		return 0, fmt.Errorf("time %v is not a number", raw)
	}
	s, ok := raw.(string)
	if !ok {
		return 0, fmt.Errorf("time %v is not a string", raw)
	}
	tt, err := time.ParseInLocation(d.Payload.TimeLayout, s, d.loc)
	if err != nil {
		return 0, fmt.Errorf("bad time %q", s)
	}
	ns, err := protocol.TimeNanos(tt)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	return ns, nil
}

// expand fills a name template for one key of a message on topic.
func expand(tmpl, topic string, segs []string, key string) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			break
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			break
		}
		b.WriteString(tmpl[:i])
		ph := tmpl[i+1 : i+j]
		tmpl = tmpl[i+j+1:]
		switch {
		case ph == "topic":
			b.WriteString(strings.ReplaceAll(topic, "/", "."))
		case ph == "key":
			b.WriteString(key)
		case strings.HasPrefix(ph, "topic."):
			if n, err := strconv.Atoi(ph[6:]); err == nil && n >= 0 && n < len(segs) {
				b.WriteString(segs[n])
			}
		}
	}
	// An empty key (format value) leaves a dangling separator.
	return strings.Trim(b.String(), ".")
}

func flatten(prefix string, obj map[string]any, out map[string]any) {
	for k, v := range obj {
		if m, ok := v.(map[string]any); ok {
			flatten(prefix+k+".", m, out)
			continue
		}
		out[prefix+k] = v
	}
}

func typeOf(v any) string {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) {
			return ""
		}
		return protocol.TypeNumber
	case bool:
		return protocol.TypeBool
	case string:
		return protocol.TypeString
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
