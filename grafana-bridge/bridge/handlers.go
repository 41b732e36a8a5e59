package bridge

import (
	"context"
	"encoding/json"
	"fmt"
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

// Filter is a Grafana ad-hoc filter. Keys node and field are applied with
// the operators =, !=, =~, !~ and the multi-value =| and !=|; filters on
// other keys belong to other datasources of the dashboard and are ignored.
type Filter struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Value    string   `json:"value"`
	Values   []string `json:"values,omitempty"`
}

// CompileFilters returns a predicate keeping the targets every filter
// admits. A filter it cannot apply (a numeric comparison such as < on a
// name, an invalid regular expression) is ignored and described in a
// notice, because ad-hoc filters reach every panel of the dashboard and
// one of them must never fail them all.
func CompileFilters(fs []Filter) (keep func(Target) bool, notices []string) {
	var ps []func(Target) bool
	for _, f := range fs {
		get := func(t Target) string { return t.Node }
		switch f.Key {
		case "node":
		case "field":
			get = func(t Target) string { return t.Field }
		default:
			continue
		}
		var match func(string) bool
		switch f.Operator {
		case "=", "":
			v := f.Value
			match = func(s string) bool { return s == v }
		case "!=":
			v := f.Value
			match = func(s string) bool { return s != v }
		case "=|", "!=|":
			vs := f.Values
			if len(vs) == 0 {
				vs = []string{f.Value}
			}
			neg := f.Operator == "!=|"
			match = func(s string) bool { return contains(vs, s) != neg }
		case "=~", "!~":
			re, err := regexp.Compile("^(?:" + f.Value + ")$")
			if err != nil {
				notices = append(notices, fmt.Sprintf("ad-hoc filter %s %s %q ignored: %v", f.Key, f.Operator, f.Value, err))
				continue
			}
			neg := f.Operator == "!~"
			match = func(s string) bool { return re.MatchString(s) != neg }
		default:
			notices = append(notices, fmt.Sprintf("ad-hoc filter %s %s %q ignored: %s and %s are names, compared with =, !=, =~, !~, =| or !=|",
				f.Key, f.Operator, f.Value, "node", "field"))
			continue
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
	}, notices
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

// notice is a Grafana frame notice: the panel shows it next to the data.
type notice struct {
	Severity string `json:"severity"`
	Text     string `json:"text"`
}

// frameMeta is the part of Grafana's frame metadata the bridge sends.
type frameMeta struct {
	Notices []notice `json:"notices,omitempty"`
	// Limits and Thresholds are a field's alarm limits, as get_fields
	// carries them and as Grafana threshold steps.
	Limits     map[string]any  `json:"limits,omitempty"`
	Thresholds []ThresholdStep `json:"thresholds,omitempty"`
}

func metaOf(severity string, texts []string) *frameMeta {
	if len(texts) == 0 {
		return nil
	}
	m := &frameMeta{}
	for _, t := range texts {
		m.Notices = append(m.Notices, notice{severity, t})
	}
	return m
}

// timeserie is one series in the SimpleJSON shape, with what Grafana's
// toDataFrame keeps besides: refId, tags (the labels), unit and meta.
type timeserie struct {
	Target     string            `json:"target"`
	RefID      string            `json:"refId,omitempty"`
	Datapoints [][]any           `json:"datapoints"`
	Tags       map[string]string `json:"tags,omitempty"`
	Unit       string            `json:"unit,omitempty"`
	Meta       *frameMeta        `json:"meta,omitempty"`
}

type column struct {
	Text string `json:"text"`
	Type string `json:"type"`
}

type table struct {
	Type    string     `json:"type"`
	RefID   string     `json:"refId,omitempty"`
	Columns []column   `json:"columns"`
	Rows    [][]any    `json:"rows"`
	Meta    *frameMeta `json:"meta,omitempty"`
}

// plan is one target of a /query request: its spec, what it resolved to,
// and its answer or error.
type plan struct {
	refID, spec string
	agg, format string
	targets     []Target
	series      []Series
	events      Annotations // of an annotations target
	err         error
}

// Limits of one /query or /annotations request, after duplicates are
// removed and wildcards and variables expanded.
const (
	DefaultMaxTargets       = 100
	DefaultMaxRequestPoints = 200000
)

// plan reads one request target; a target it cannot use gets an error of
// its own and the others are still answered.
func (s *Server) plan(ctx context.Context, t queryTarget) *plan {
	p := &plan{refID: t.RefID, spec: t.Target}
	o, err := t.options()
	if err != nil {
		p.err = err
		return p
	}
	p.agg, p.format = o.Agg, o.Format
	if p.format == "" {
		p.format = t.Type
	}
	switch p.format {
	case "", "timeseries", formatTimeserie:
		p.format = formatTimeserie
	case formatTable, formatAnnotations:
	default:
		p.err = badRequest("target %q: unknown format %q: want timeserie, table or annotations", t.Target, p.format)
		return p
	}
	if p.agg != "" {
		if err := protocol.CheckAgg(p.agg); err != nil {
			p.err = fmt.Errorf("target %q: %w", t.Target, err)
			return p
		}
	}
	p.targets, p.err = s.core.Resolve(ctx, t.Target)
	return p
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
	keep, notices := CompileFilters(append(req.AdhocFilters, req.Filters...))
	interval := time.Duration(req.IntervalMs * float64(time.Millisecond))
	if interval == 0 && req.Interval != "" {
		if interval, err = parseInterval(req.Interval); err != nil {
			return nil, err
		}
	}
	base := Request{From: from, To: to, MaxPoints: req.MaxDataPoints, Interval: interval}
	if err := s.core.Validate(&base); err != nil {
		return nil, err
	}
	var plans []*plan
	seen := map[string]bool{}
	distinct := 0
	for _, t := range req.Targets {
		if t.Hide || t.Target == "" || t.Target == "select metric" {
			continue
		}
		p := s.plan(r.Context(), t)
		var kept []Target
		for _, x := range p.targets {
			// One series per query, target, aggregation and format: copies
			// of a target are answered once.
			key := p.refID + "\x00" + x.String() + "\x00" + p.agg + "\x00" + p.format
			if keep(x) && !seen[key] {
				seen[key] = true
				kept = append(kept, x)
			}
		}
		p.targets = kept
		distinct += len(kept)
		if distinct > s.cfg.MaxTargets {
			return nil, badRequest("the request asks for more than %d series (after removing duplicates and expanding variables and wildcards)", s.cfg.MaxTargets)
		}
		plans = append(plans, p)
	}
	s.run(r.Context(), plans, base, distinct)
	out := []any{}
	failed := 0
	for _, p := range plans {
		if p.err != nil {
			failed++
			out = append(out, table{Type: "table", RefID: p.refID, Columns: []column{}, Rows: [][]any{},
				Meta: metaOf("error", []string{p.err.Error()})})
			continue
		}
		for _, se := range p.series {
			switch p.format {
			case formatTimeserie:
				ts := toTimeserie(se)
				ts.RefID, ts.Meta = p.refID, metaOf("warning", notices)
				out = append(out, ts)
			case formatTable:
				tb := toTable(se)
				tb.RefID, tb.Meta = p.refID, metaOf("warning", notices)
				out = append(out, tb)
			}
		}
		if p.format == formatAnnotations {
			tb := toAnnotationTable(p.events)
			tb.RefID = p.refID
			out = append(out, tb)
		}
	}
	if failed > 0 && failed == len(plans) {
		// Nothing to show: the status says why, as for a single target.
		return nil, plans[0].err
	}
	return out, nil
}

// run answers the plans: one core query per aggregation and format, all
// nodes in parallel; when that fails, each plan of the group is asked on
// its own so that one bad target fails only itself. The points asked for
// are capped so that the whole answer stays within MaxRequestPoints.
func (s *Server) run(ctx context.Context, plans []*plan, base Request, distinct int) {
	perTarget := base.MaxPoints
	// minmax gives two points per bucket, so a series may have 2×perTarget.
	if distinct > 0 && distinct*2*perTarget > s.cfg.MaxRequestPoints {
		perTarget = max(1, s.cfg.MaxRequestPoints/(2*distinct))
	}
	type groupKey struct{ agg, format string }
	groups := map[groupKey][]*plan{}
	var order []groupKey
	for _, p := range plans {
		if p.err != nil || len(p.targets) == 0 {
			continue
		}
		if p.format == formatAnnotations {
			p.events, p.err = s.core.Annotations(ctx, AnnotationRequest{Targets: p.targets, From: base.From, To: base.To,
				MaxPoints: s.cfg.MaxRequestPoints / max(distinct, 1)})
			continue
		}
		k := groupKey{p.agg, p.format}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	request := func(k groupKey, ts []Target) Request {
		q := base
		q.Targets, q.Agg, q.MaxPoints = ts, k.agg, perTarget
		return q
	}
	for _, k := range order {
		ps := groups[k]
		var all []Target
		for _, p := range ps {
			all = append(all, p.targets...)
		}
		series, err := s.core.Query(ctx, request(k, all))
		if err == nil {
			for _, p := range ps {
				p.series, series = series[:len(p.targets)], series[len(p.targets):]
			}
			continue
		}
		if len(ps) == 1 {
			ps[0].err = err
			continue
		}
		for _, p := range ps {
			p.series, p.err = s.core.Query(ctx, request(k, p.targets))
		}
	}
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

// Labels are the labels of a series: node and field, unique within a query.
func Labels(t Target) map[string]string {
	return map[string]string{"node": t.Node, "field": t.Field}
}

func toTimeserie(se Series) timeserie {
	dp := make([][]any, len(se.Times))
	for i, t := range se.Times {
		dp[i] = []any{jsonValue(se.Values.At(i)), jsonMillis(t)}
	}
	ts := timeserie{Target: se.Target.String(), Datapoints: dp, Tags: Labels(se.Target), Unit: GrafanaUnit(se.Info)}
	if se.Info.Limits != nil {
		ts.Meta = &frameMeta{Limits: se.Info.Limits.Wire(), Thresholds: ThresholdSteps(se.Info.Limits)}
	}
	return ts
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

// toAnnotationTable is an annotation answer as a table of the columns
// Grafana reads annotations from; notices go in its meta.
func toAnnotationTable(a Annotations) table {
	rows := [][]any{}
	for _, e := range a.Events {
		rows = append(rows, []any{jsonMillis(e.Time), regionEnd(e), e.Title, e.Text, strings.Join(e.Tags, ",")})
	}
	var texts []string
	for _, n := range a.Notices {
		texts = append(texts, n.Text)
	}
	return table{Type: "table", Columns: []column{{"time", "time"}, {"timeEnd", "time"}, {"title", "string"}, {"text", "string"}, {"tags", "string"}},
		Rows: rows, Meta: metaOf("warning", texts)}
}

// regionEnd is the end of e's region in milliseconds, nil for a point.
func regionEnd(e Event) any {
	if e.End == 0 {
		return nil
	}
	return jsonMillis(e.End)
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
	TimeEnd    any            `json:"timeEnd,omitempty"`
	IsRegion   bool           `json:"isRegion,omitempty"`
	Title      string         `json:"title"`
	Text       string         `json:"text"`
	Tags       []string       `json:"tags"`
}

// annotations answers SimpleJSON's annotation query: the query text is a
// target spec, and its annotations are Core.Annotations' (limit
// transitions of fields with limits, value events of the others), the
// latest annotation.limit of them (default and cap DefaultEventLimit).
// Each notice is an annotation of its own, tagged NoticeTags.
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
	limit := DefaultEventLimit
	if l, ok := req.Annotation["limit"].(float64); ok && l >= 1 && l < float64(limit) {
		limit = int(l)
	}
	ts, err := s.core.Resolve(r.Context(), q)
	if err != nil {
		return nil, err
	}
	if len(ts) > s.cfg.MaxTargets {
		return nil, badRequest("annotation query %q names %d series, more than %d", q, len(ts), s.cfg.MaxTargets)
	}
	a, err := s.core.Annotations(r.Context(), AnnotationRequest{Targets: ts, From: from, To: to, Limit: limit,
		MaxPoints: s.cfg.MaxRequestPoints / max(len(ts), 1)})
	if err != nil {
		return nil, err
	}
	out := []annotation{}
	for _, e := range a.Events {
		an := annotation{Annotation: req.Annotation, Time: jsonMillis(e.Time), Title: e.Title, Text: e.Text, Tags: e.Tags}
		if e.End != 0 {
			an.TimeEnd, an.IsRegion = jsonMillis(e.End), true
		}
		out = append(out, an)
	}
	for _, n := range a.Notices {
		out = append(out, annotation{Annotation: req.Annotation, Time: jsonMillis(n.Time), Title: "telemesh notice", Text: n.Text, Tags: NoticeTags})
	}
	return out, nil
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
