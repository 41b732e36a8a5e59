package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/telemesh/telemesh/protocol"
)

// A target spec is a target as Grafana sends it after interpolating
// template variables. Each side of "node::field" is one name or a set:
//
//	sim                  one name
//	{sim,lab}            a multi-value or All variable, glob format (the plugin's)
//	(sim|lab\.1)         the same, regex format (simPod and SimpleJSON),
//	                     with regular-expression escapes (\.)
//	lab\.1               one value, regex format
//	* or .*              every node (or every field of the nodes)
//
// ParseSpec splits a spec into its node and field sets; a nil set means
// every name.
func ParseSpec(s string) (nodes, fields []string, err error) {
	node, field, ok := strings.Cut(strings.TrimSpace(s), TargetSep)
	if !ok {
		return nil, nil, protocol.Errorf(protocol.InvalidArgument, "target %q: want node%sfield", s, TargetSep)
	}
	if nodes, err = parseSet(node, protocol.CheckNodeName); err != nil {
		return nil, nil, fmt.Errorf("target %q: %w", s, err)
	}
	if fields, err = parseSet(field, protocol.CheckFieldName); err != nil {
		return nil, nil, fmt.Errorf("target %q: %w", s, err)
	}
	return nodes, fields, nil
}

// parseSet parses one side of a spec; nil means every name.
func parseSet(s string, check func(string) error) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "*" || s == ".*" || s == "$__all" {
		return nil, nil
	}
	var parts []string
	switch {
	case len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}':
		parts = strings.Split(s[1:len(s)-1], ",")
	case len(s) >= 2 && s[0] == '(' && s[len(s)-1] == ')':
		parts = splitUnescaped(s[1:len(s)-1], '|')
	default:
		parts = []string{s}
	}
	out := make([]string, 0, len(parts))
	seen := map[string]bool{}
	for _, p := range parts {
		p = unescapeRegex(strings.TrimSpace(p))
		if p == "*" || p == ".*" {
			return nil, nil // an All value among others is still all
		}
		if err := check(p); err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// splitUnescaped splits s at sep where it is not escaped by a backslash.
func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescapeRegex drops the backslashes Grafana's regex format puts before
// special characters (\. \- \( ...).
func unescapeRegex(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Resolve turns a spec into the targets it names, in a stable order,
// without duplicates. One node and one field are taken as they are, so that
// the query reports them when unknown; sets are matched against the nodes'
// fields (a node of {sim,lab} that lacks the field is skipped, as with *),
// and a set matching nothing is an unknown field.
func (c *Core) Resolve(ctx context.Context, spec string) ([]Target, error) {
	nodes, fields, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 1 && len(fields) == 1 {
		return []Target{{Node: nodes[0], Field: fields[0]}}, nil
	}
	all, err := c.Targets(ctx)
	if err != nil {
		return nil, err
	}
	in := func(set []string, s string) bool { return set == nil || contains(set, s) }
	var out []Target
	for _, t := range all {
		if in(nodes, t.Node) && in(fields, t.Field) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, protocol.Errorf(protocol.UnknownField, "target %q matches no field of any node", spec)
	}
	return out, nil
}

// SplitSpecs splits a comma-separated list of target specs, keeping the
// commas inside {a,b} sets: "{sim,lab}::co2,sim::t" is two specs.
func SplitSpecs(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	out = append(out, s[start:])
	specs := out[:0]
	for _, x := range out {
		if x = strings.TrimSpace(x); x != "" {
			specs = append(specs, x)
		}
	}
	return specs
}
