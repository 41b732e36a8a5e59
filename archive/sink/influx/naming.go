package influx

import (
	"fmt"
	"sort"
	"strings"

	"github.com/telemesh/telemesh/archive"
)

// Naming maps a point to a line protocol series. Templates may use
// {node}, {field}, {timeline}, {units}, and {field_prefix}/{field_key}
// and {timeline_prefix}/{timeline_key}: the parts of the name before and
// after its last dot.
type Naming struct {
	// Preset is telemesh (the default) or ocs; the other members override it.
	Preset string `yaml:"preset"`
	// Measurement is the measurement template.
	Measurement string `yaml:"measurement"`
	// Field is the template of the key the value is written under.
	Field string `yaml:"field"`
	// Tags maps tag keys to templates; a tag whose value is empty is left out.
	Tags map[string]string `yaml:"tags"`
	// Strings maps extra string field keys to templates (e.g. units: "{units}").
	Strings map[string]string `yaml:"strings"`
}

// presets are the built-in namings. telemesh is one narrow measurement
// for every node (VictoriaMetrics calls it telemesh_value{node, field});
// ocs is what OCS's InfluxDB publisher writes for the fields of a node
// that takes OCS feeds (wampfeed names them agent_address.key and their
// timelines agent_address.block): measurement = agent address, fields =
// the feed's keys, tag feed.
var presets = map[string]Naming{
	"telemesh": {Measurement: "telemesh", Field: "value",
		Tags: map[string]string{"node": "{node}", "field": "{field}", "timeline": "{timeline}", "units": "{units}"}},
	"ocs": {Measurement: "{field_prefix}", Field: "{field_key}",
		Tags: map[string]string{"feed": "{timeline_key}"}},
}

var templateVars = []string{"node", "field", "timeline", "units", "field_prefix", "field_key", "timeline_prefix", "timeline_key"}

// resolve applies the preset under the overrides and checks templates.
func (n Naming) resolve() (Naming, error) {
	if n.Preset == "" {
		n.Preset = "telemesh"
	}
	p, ok := presets[n.Preset]
	if !ok {
		return n, fmt.Errorf("naming.preset: unknown preset %q (want telemesh or ocs)", n.Preset)
	}
	if n.Measurement == "" {
		n.Measurement = p.Measurement
	}
	if n.Field == "" {
		n.Field = p.Field
	}
	if n.Tags == nil {
		n.Tags = p.Tags
	}
	check := func(where, tpl string) error {
		rest := tpl
		for {
			i := strings.IndexByte(rest, '{')
			if i < 0 {
				return nil
			}
			j := strings.IndexByte(rest[i:], '}')
			if j < 0 {
				return fmt.Errorf("%s: %q has an unclosed {", where, tpl)
			}
			v := rest[i+1 : i+j]
			if !contains(templateVars, v) {
				return fmt.Errorf("%s: %q uses {%s} (want one of {%s})", where, tpl, v, strings.Join(templateVars, "}, {"))
			}
			rest = rest[i+j+1:]
		}
	}
	if err := check("naming.measurement", n.Measurement); err != nil {
		return n, err
	}
	if err := check("naming.field", n.Field); err != nil {
		return n, err
	}
	for _, k := range sortedKeys(n.Tags) {
		if err := check("naming.tags."+k, n.Tags[k]); err != nil {
			return n, err
		}
	}
	for _, k := range sortedKeys(n.Strings) {
		if err := check("naming.strings."+k, n.Strings[k]); err != nil {
			return n, err
		}
	}
	return n, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func split(name string) (string, string) {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, name
}

// template is a parsed naming template: literal text and variables.
type template []segment

type segment struct {
	lit string
	v   string // variable name; "" for a literal
}

func parseTemplate(tpl string) template {
	var out template
	for tpl != "" {
		i := strings.IndexByte(tpl, '{')
		if i < 0 {
			out = append(out, segment{lit: tpl})
			break
		}
		j := strings.IndexByte(tpl[i:], '}')
		if i > 0 {
			out = append(out, segment{lit: tpl[:i]})
		}
		out = append(out, segment{v: tpl[i+1 : i+j]})
		tpl = tpl[i+j+1:]
	}
	return out
}

// expand fills the template for p.
func (t template) expand(p *archive.Point) string {
	if len(t) == 1 {
		return t[0].value(p)
	}
	var b strings.Builder
	for _, s := range t {
		b.WriteString(s.value(p))
	}
	return b.String()
}

func (s segment) value(p *archive.Point) string {
	if s.v == "" {
		return s.lit
	}
	name, part, _ := strings.Cut(s.v, "_")
	var v string
	switch name {
	case "node":
		return p.Node
	case "units":
		return p.Units
	case "field":
		v = p.Field
	case "timeline":
		v = p.Timeline
	}
	prefix, key := split(v)
	switch part {
	case "prefix":
		return prefix
	case "key":
		return key
	}
	return v
}

// compiled is a resolved Naming with parsed templates in key order.
type compiled struct {
	measurement, field template
	tags, strings      []keyed
}

type keyed struct {
	key string // escaped
	t   template
}

func (n Naming) compile() compiled {
	c := compiled{measurement: parseTemplate(n.Measurement), field: parseTemplate(n.Field)}
	for _, k := range sortedKeys(n.Tags) {
		c.tags = append(c.tags, keyed{keyEsc.Replace(k), parseTemplate(n.Tags[k])})
	}
	for _, k := range sortedKeys(n.Strings) {
		c.strings = append(c.strings, keyed{keyEsc.Replace(k), parseTemplate(n.Strings[k])})
	}
	return c
}
