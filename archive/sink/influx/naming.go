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

// expand fills a template for p.
func expand(tpl string, p *archive.Point) string {
	if !strings.Contains(tpl, "{") {
		return tpl
	}
	fp, fk := split(p.Field)
	tp, tk := split(p.Timeline)
	r := strings.NewReplacer("{node}", p.Node, "{field}", p.Field, "{timeline}", p.Timeline, "{units}", p.Units,
		"{field_prefix}", fp, "{field_key}", fk, "{timeline_prefix}", tp, "{timeline_key}", tk)
	return r.Replace(tpl)
}
