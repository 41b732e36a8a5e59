package bridge

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

var errEOF = io.EOF

// rangeJSON is Grafana's time range: RFC 3339 strings (sub-second precision
// kept) or epoch milliseconds.
type rangeJSON struct {
	From json.RawMessage `json:"from"`
	To   json.RawMessage `json:"to"`
}

func parseTime(name string, raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, badRequest("range.%s missing", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			if ms, err2 := strconv.ParseFloat(s, 64); err2 == nil {
				return msTime(ms), nil
			}
			return time.Time{}, badRequest("range.%s %q: want RFC 3339", name, s)
		}
		return t.UTC(), nil
	}
	var ms float64
	if err := json.Unmarshal(raw, &ms); err != nil || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return time.Time{}, badRequest("range.%s: want an RFC 3339 string or epoch milliseconds", name)
	}
	return msTime(ms), nil
}

func msTime(ms float64) time.Time {
	return protocol.ToTime(ms / 1000)
}

func (r *rangeJSON) times() (time.Time, time.Time, error) {
	if r == nil {
		return time.Time{}, time.Time{}, badRequest("range missing")
	}
	from, err := parseTime("from", r.From)
	if err != nil {
		return from, from, err
	}
	to, err := parseTime("to", r.To)
	return from, to, err
}

// Filter is a Grafana ad-hoc filter: key node or field, operators =, !=,
// =~ and !~. Filters on other keys are ignored.
type Filter struct {
	Key      string `json:"key"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
}

// CompileFilters returns a predicate keeping the targets every filter
// admits.
func CompileFilters(fs []Filter) (func(Target) bool, error) {
	type pred func(Target) bool
	var ps []pred
	for _, f := range fs {
		get := func(t Target) string { return t.Node }
		switch f.Key {
		case "node":
		case "field":
			get = func(t Target) string { return t.Field }
		default:
			continue // filters of other datasources on the dashboard
		}
		var match func(string) bool
		switch f.Operator {
		case "=", "":
			v := f.Value
			match = func(s string) bool { return s == v }
		case "!=":
			v := f.Value
			match = func(s string) bool { return s != v }
		case "=~", "!~":
			re, err := regexp.Compile("^(?:" + f.Value + ")$")
			if err != nil {
				return nil, badRequest("ad-hoc filter %s %s %q: %v", f.Key, f.Operator, f.Value, err)
			}
			neg := f.Operator == "!~"
			match = func(s string) bool { return re.MatchString(s) != neg }
		default:
			return nil, badRequest("ad-hoc filter operator %q: want =, !=, =~ or !~", f.Operator)
		}
		ps = append(ps, func(t Target) bool { return match(get(t)) })
	}
	return func(t Target) bool {
		for _, p := range ps {
			if !p(t) {
				return false
			}
		}
		return true
	}, nil
}

// payload is the per-target options: simPod's payload (or data before
// 0.3.0); the SimpleJSON plugin has none.
type payload struct {
	Agg    string `json:"agg"`
	Format string `json:"format"`
}

type queryTarget struct {
	Target  string          `json:"target"`
	RefID   string          `json:"refId"`
	Type    string          `json:"type"`
	Hide    bool            `json:"hide"`
	Payload json.RawMessage `json:"payload"`
	Data    json.RawMessage `json:"data"`
}

func (t queryTarget) options() (payload, error) {
	var p payload
	raw := t.Payload
	if len(raw) == 0 || string(raw) == "null" {
		raw = t.Data
	}
	if len(raw) == 0 || string(raw) == "null" {
		return p, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil { // payload typed in as text
		if strings.TrimSpace(s) == "" {
			return p, nil
		}
		raw = []byte(s)
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, badRequest("target %q: payload: %v", t.Target, err)
	}
	return p, nil
}

type queryRequest struct {
	Range         *rangeJSON    `json:"range"`
	Interval      string        `json:"interval"`
	IntervalMs    float64       `json:"intervalMs"`
	MaxDataPoints int           `json:"maxDataPoints"`
	Targets       []queryTarget `json:"targets"`
	AdhocFilters  []Filter      `json:"adhocFilters"`
	Filters       []Filter      `json:"filters"`
}

// Output formats of a target.
const (
	formatTimeserie   = "timeserie"
	formatTable       = "table"
	formatAnnotations = "annotations"
)

type timeserie struct {
	Target     string  `json:"target"`
	Datapoints [][]any `json:"datapoints"`
}

type column struct {
	Text string `json:"text"`
	Type string `json:"type"`
}

type table struct {
	Type    string   `json:"type"`
	Columns []column `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// group is the targets sharing one aggregation and format.
type group struct {
	agg, format string
	targets     []Target
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) (any, error) {
	var req queryRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	from, to, err := req.Range.times()
	if err != nil {
		return nil, err
	}
	keep, err := CompileFilters(append(req.AdhocFilters, req.Filters...))
	if err != nil {
		return nil, err
	}
	interval := time.Duration(req.IntervalMs * float64(time.Millisecond))
	if interval == 0 && req.Interval != "" {
		if interval, err = parseInterval(req.Interval); err != nil {
			return nil, err
		}
	}
	if err := s.core.Validate(&Request{From: from, To: to, MaxPoints: req.MaxDataPoints, Interval: interval}); err != nil {
		return nil, err
	}
	var groups []*group
	for _, t := range req.Targets {
		if t.Hide || t.Target == "" || t.Target == "select metric" {
			continue
		}
		p, err := t.options()
		if err != nil {
			return nil, err
		}
		format := p.Format
		if format == "" {
			format = t.Type
		}
		switch format {
		case "", "timeseries", formatTimeserie:
			format = formatTimeserie
		case formatTable, formatAnnotations:
		default:
			return nil, badRequest("target %q: unknown format %q: want timeserie, table or annotations", t.Target, format)
		}
		tg, err := ParseTarget(t.Target)
		if err != nil {
			return nil, err
		}
		ts, err := s.core.Expand(r.Context(), []Target{tg}, func(string) bool { return true })
		if err != nil {
			return nil, err
		}
		if tg.Node == "*" && len(ts) == 0 {
			return nil, protocol.Errorf(protocol.UnknownField, "no node has a field %s", tg.Field)
		}
		var kept []Target
		for _, x := range ts {
			if keep(x) {
				kept = append(kept, x)
			}
		}
		var g *group
		for _, x := range groups {
			if x.agg == p.Agg && x.format == format {
				g = x
			}
		}
		if g == nil {
			g = &group{agg: p.Agg, format: format}
			groups = append(groups, g)
		}
		g.targets = append(g.targets, kept...)
	}
	out := []any{}
	for _, g := range groups {
		if len(g.targets) == 0 {
			continue
		}
		qr := Request{Targets: g.targets, From: from, To: to, MaxPoints: req.MaxDataPoints, Interval: interval, Agg: g.agg}
		if g.format == formatAnnotations {
			qr = annotationQuery(g.targets, from, to, s.core.opts.MaxPoints)
		}
		series, err := s.core.Query(r.Context(), qr)
		if err != nil {
			return nil, err
		}
		for _, se := range series {
			switch g.format {
			case formatTimeserie:
				out = append(out, toTimeserie(se))
			case formatTable:
				out = append(out, toTable(se))
			case formatAnnotations:
				out = append(out, toAnnotationTable(se))
			}
		}
	}
	return out, nil
}

// jsonMillis is the time of a point (nanoseconds) in milliseconds: an
// integer when whole, else kept to the microsecond.
func jsonMillis(ns int64) any {
	us := ns / 1e3
	if r := ns % 1e3; r >= 500 {
		us++
	} else if r <= -500 {
		us--
	}
	if us%1e3 == 0 {
		return us / 1e3
	}
	return float64(us) / 1e3
}

// jsonValue makes a value JSON-safe: missing values (NaN) and infinities
// become null.
func jsonValue(v protocol.Value) any {
	if v.Type == protocol.TypeNumber && math.IsInf(v.Num, 0) {
		return nil
	}
	return v.Any()
}

func toTimeserie(se Series) timeserie {
	dp := make([][]any, len(se.Times))
	for i, t := range se.Times {
		dp[i] = []any{jsonValue(se.Values.At(i)), jsonMillis(t)}
	}
	return timeserie{Target: se.Target.String(), Datapoints: dp}
}

func columnType(info protocol.FieldInfo) string {
	switch info.Type {
	case protocol.TypeString:
		return "string"
	case protocol.TypeBool:
		return "boolean"
	}
	return "number"
}

func toTable(se Series) table {
	rows := make([][]any, len(se.Times))
	for i, t := range se.Times {
		rows[i] = []any{jsonMillis(t), jsonValue(se.Values.At(i))}
	}
	return table{Type: "table", Columns: []column{{"Time", "time"}, {se.Target.String(), columnType(se.Info)}}, Rows: rows}
}

// Eventful reports whether a value marks an event: non-zero numbers, true,
// non-empty strings.
func Eventful(v protocol.Value) bool {
	if v.Type == protocol.TypeString {
		return v.Str != ""
	}
	f, ok := v.Float()
	return ok && f != 0
}

// EventText is the annotation text of an event value.
func EventText(v protocol.Value) string {
	if v.Type == protocol.TypeString {
		return v.Str
	}
	if f, ok := v.Float(); ok {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return ""
}

func toAnnotationTable(se Series) table {
	rows := [][]any{}
	for i, t := range se.Times {
		if v := se.Values.At(i); Eventful(v) {
			rows = append(rows, []any{jsonMillis(t), se.Target.String(), EventText(v), se.Target.Node + "," + se.Target.Field})
		}
	}
	return table{Type: "table", Columns: []column{{"time", "time"}, {"title", "string"}, {"text", "string"}, {"tags", "string"}}, Rows: rows}
}

var intervalRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w|y)$`)

// parseInterval parses Grafana's interval strings: 500ms, 20s, 1m, 1h, 1d,
// 1w, 1y.
func parseInterval(s string) (time.Duration, error) {
	m := intervalRE.FindStringSubmatch(s)
	if m == nil {
		return 0, badRequest("interval %q: want a number and one of ms, s, m, h, d, w, y", s)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
		"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}[m[2]]
	return time.Duration(n * float64(unit)), nil
}

type annotationRequest struct {
	Range      *rangeJSON     `json:"range"`
	Annotation map[string]any `json:"annotation"`
}

type annotation struct {
	Annotation map[string]any `json:"annotation"`
	Time       any            `json:"time"`
	Title      string         `json:"title"`
	Text       string         `json:"text"`
	Tags       []string       `json:"tags"`
}

// annotations answers SimpleJSON's annotation query: the query text is a
// target, and every non-zero, true or non-empty value becomes an event.
func (s *Server) annotations(w http.ResponseWriter, r *http.Request) (any, error) {
	var req annotationRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	from, to, err := req.Range.times()
	if err != nil {
		return nil, err
	}
	q, _ := req.Annotation["query"].(string)
	if q == "" {
		return nil, badRequest("annotation.query missing: want node%sfield", TargetSep)
	}
	tg, err := ParseTarget(q)
	if err != nil {
		return nil, err
	}
	ts, err := s.core.Expand(r.Context(), []Target{tg}, nil)
	if err != nil {
		return nil, err
	}
	out := []annotation{}
	if len(ts) == 0 {
		return out, nil
	}
	series, err := s.core.Query(r.Context(), annotationQuery(ts, from, to, s.core.opts.MaxPoints))
	if err != nil {
		return nil, err
	}
	for _, se := range series {
		for i, t := range se.Times {
			if v := se.Values.At(i); Eventful(v) {
				out = append(out, annotation{Annotation: req.Annotation, Time: jsonMillis(t), Title: se.Target.String(),
					Text: EventText(v), Tags: []string{se.Target.Node, se.Target.Field}})
			}
		}
	}
	return out, nil
}

// annotationQuery asks for events at one-second resolution: the last value
// of each second, so that no event is averaged away.
func annotationQuery(ts []Target, from, to time.Time, maxPoints int) Request {
	return Request{Targets: ts, From: from, To: to, MaxPoints: maxPoints, Interval: time.Second, Agg: protocol.AggLast}
}

type searchRequest struct {
	Target string `json:"target"`
}

// Lookup answers a metric-find query: "nodes()" lists nodes, "fields(N)"
// lists the fields of node N, anything else filters node::field names by
// substring or, with * or ?, by glob.
func (c *Core) Lookup(ctx context.Context, q string) ([]string, error) {
	q = strings.TrimSpace(q)
	switch {
	case q == "nodes()" || q == "nodes":
		return c.NodeNames(ctx)
	case strings.HasPrefix(q, "fields(") && strings.HasSuffix(q, ")"):
		node := strings.TrimSpace(q[len("fields(") : len(q)-1])
		if err := protocol.CheckNodeName(node); err != nil {
			return nil, err
		}
		fs, err := c.Fields(ctx, node)
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(fs))
		for f := range fs {
			out = append(out, f)
		}
		sort.Strings(out)
		return out, nil
	}
	ts, err := c.Targets(ctx)
	if err != nil {
		return nil, err
	}
	out := []string{}
	glob := strings.ContainsAny(q, "*?[")
	for _, t := range ts {
		name := t.String()
		ok := q == "" || strings.Contains(name, q)
		if glob {
			ok, _ = path.Match(q, name)
		}
		if ok {
			out = append(out, name)
		}
	}
	return out, nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) (any, error) {
	var req searchRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.core.Lookup(r.Context(), req.Target)
}

type tagKey struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type tagValue struct {
	Text string `json:"text"`
}

func (s *Server) tagKeys(w http.ResponseWriter, r *http.Request) (any, error) {
	var req map[string]any
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return []tagKey{{"string", "node"}, {"string", "field"}}, nil
}

func (s *Server) tagValues(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Key string `json:"key"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	var names []string
	switch req.Key {
	case "node":
		var err error
		if names, err = s.core.NodeNames(r.Context()); err != nil {
			return nil, err
		}
	case "field":
		ts, err := s.core.Targets(r.Context())
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, t := range ts {
			if !seen[t.Field] {
				seen[t.Field] = true
				names = append(names, t.Field)
			}
		}
		sort.Strings(names)
	default:
		return nil, badRequest("unknown tag key %q: want node or field", req.Key)
	}
	out := make([]tagValue, len(names))
	for i, n := range names {
		out[i] = tagValue{n}
	}
	return out, nil
}

type option struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

type payloadDef struct {
	Label   string   `json:"label"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Width   int      `json:"width,omitempty"`
	Options []option `json:"options,omitempty"`
}

type metric struct {
	Label    string       `json:"label"`
	Value    string       `json:"value"`
	Payloads []payloadDef `json:"payloads"`
}

func aggOptions() []option {
	var out []option
	for _, a := range protocol.Aggs {
		out = append(out, option{a, a})
	}
	return out
}

func formatOptions() []option {
	return []option{{"Time series", formatTimeserie}, {"Table", formatTable}, {"Annotations", formatAnnotations}}
}

func payloadDefs() []payloadDef {
	return []payloadDef{
		{Label: "Aggregation", Name: "agg", Type: "select", Width: 20, Options: aggOptions()},
		{Label: "Format", Name: "format", Type: "select", Width: 20, Options: formatOptions()},
	}
}

// metrics is simPod's POST /metrics: every node::field with its payload
// options. GET /metrics is Prometheus text.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Metric string `json:"metric"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	ts, err := s.core.Targets(r.Context())
	if err != nil {
		return nil, err
	}
	out := []metric{}
	for _, t := range ts {
		out = append(out, metric{Label: t.String(), Value: t.String(), Payloads: payloadDefs()})
	}
	return out, nil
}

func (s *Server) payloadOptions(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Metric string `json:"metric"`
		Name   string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	switch req.Name {
	case "agg":
		return aggOptions(), nil
	case "format":
		return formatOptions(), nil
	}
	return nil, badRequest("unknown payload %q: want agg or format", req.Name)
}

type variableValue struct {
	Text  string `json:"__text"`
	Value string `json:"__value"`
}

// variable is simPod's /variable: the payload is a lookup query as text,
// {"target": query} or {"node": N} for the fields of N.
func (s *Server) variable(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	var q string
	if len(req.Payload) > 0 && string(req.Payload) != "null" {
		if err := json.Unmarshal(req.Payload, &q); err != nil {
			var p struct {
				Target string `json:"target"`
				Node   string `json:"node"`
			}
			if err := json.Unmarshal(req.Payload, &p); err != nil {
				return nil, badRequest("payload: want a query string or {\"target\": ...} or {\"node\": ...}")
			}
			q = p.Target
			if p.Node != "" {
				q = "fields(" + p.Node + ")"
			}
		}
	}
	names, err := s.core.Lookup(r.Context(), q)
	if err != nil {
		return nil, err
	}
	out := make([]variableValue, len(names))
	for i, n := range names {
		out[i] = variableValue{n, n}
	}
	return out, nil
}
