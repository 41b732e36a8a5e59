// Package plugin is the telemesh Grafana backend datasource plugin: panel
// and alert queries (QueryData), the health check, resources for the query
// editor and template variables (CallResource), and live readings through
// Grafana Live (RunStream). It shares the query core of bridge.
package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/protocol"
)

// ID is the plugin id in plugin.json and in provisioning.
const ID = "telemesh-wamp-datasource"

// Connect opens the Source of one datasource instance from its parsed
// settings; stop releases it.
type Connect func(ctx context.Context, p Parsed) (src bridge.Source, stop func(), err error)

// NewFactory returns the instance factory that datasource.Manage (or the
// SDK's test harness) runs: one Datasource per configured datasource.
// Settings that cannot be used still yield an instance, whose health check
// says what is wrong and whose queries fail one by one with that reason,
// so that one bad key never turns every query into an RPC error.
func NewFactory(connect Connect, logger *slog.Logger) datasource.InstanceFactoryFunc {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
		log := logger.With("datasource", s.UID)
		p, err := ParseSettings(s)
		for _, w := range p.Warnings {
			log.Warn("datasource settings", "warning", w)
		}
		if err != nil {
			log.Error("datasource settings", "err", err)
			return Broken(err, p.Warnings), nil
		}
		src, stop, err := connect(ctx, p)
		if err != nil {
			log.Error("datasource connect", "err", err)
			return Broken(fmt.Errorf("datasource %s: %w", s.Name, err), p.Warnings), nil
		}
		d := New(src, p.Options, s.UID, stop, log)
		d.warnings = p.Warnings
		return d, nil
	}
}

// Datasource is one configured telemesh datasource.
type Datasource struct {
	core     *bridge.Core
	uid      string
	stop     func()
	log      *slog.Logger
	res      backend.CallResourceHandler
	warnings []string
	// broken, when set, is why the settings cannot be used: every query and
	// the health check answer with it.
	broken error
}

// Broken returns a datasource whose settings cannot be used: its health
// check reports err (and the warnings), its queries, resources and streams
// fail with err.
func Broken(err error, warnings []string) *Datasource {
	err = protocol.Errorf(protocol.InvalidArgument, "%v", err)
	d := New(brokenSource{err}, bridge.Options{}, "", nil, nil)
	d.broken, d.warnings = err, warnings
	return d
}

// brokenSource answers every call with the reason the settings are unusable.
type brokenSource struct{ err error }

func (b brokenSource) Nodes(context.Context) ([]protocol.NodeInfo, error) { return nil, b.err }
func (b brokenSource) Fields(context.Context, string, float64, float64) (map[string]protocol.FieldInfo, map[string]protocol.TimelineInfo, error) {
	return nil, nil, b.err
}
func (b brokenSource) GetData(context.Context, string, bridge.Query) (*protocol.DataResult, error) {
	return nil, b.err
}
func (b brokenSource) Subscribe(context.Context, string, func(*protocol.DataResult)) (func(), error) {
	return nil, b.err
}

// New returns a datasource reading from src; uid is the datasource UID that
// live channels carry, stop (may be nil) runs on Dispose.
func New(src bridge.Source, opts bridge.Options, uid string, stop func(), logger *slog.Logger) *Datasource {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Datasource{core: bridge.NewCore(src, opts, logger), uid: uid, stop: stop, log: logger}
	d.res = httpadapter.New(d.resources())
	return d
}

// Dispose releases the instance's connection when Grafana replaces it.
func (d *Datasource) Dispose() {
	if d.stop != nil {
		d.stop()
	}
}

// Query types of the query model.
const (
	QueryTypeData        = ""
	QueryTypeAnnotations = "annotations"
)

// QueryModel is the JSON of one panel or alert query. It is self-contained
// (no dashboard variables needed), as alert evaluation requires.
type QueryModel struct {
	// Node and Field (or Fields) select the series; Node "*" means every
	// node with the field. Target "node::field" is an alternative.
	Node   string   `json:"node"`
	Field  string   `json:"field"`
	Fields []string `json:"fields"`
	Target string   `json:"target"`
	// Agg is the downsampling aggregation (mean, min, max, last, minmax).
	Agg string `json:"agg"`
	// Live adds a Grafana Live channel so the panel keeps updating.
	Live bool `json:"live"`
	// QueryType "annotations" makes annotations: the limit transitions of
	// fields with limits, and the points where other fields' values
	// become non-zero, true or non-empty (bridge.Core.Annotations).
	QueryType string `json:"queryType"`
	// Filters are ad-hoc filters the frontend copies in.
	Filters []bridge.Filter `json:"filters"`
	// Unit "" gives each field the Grafana unit of the units its node
	// declares; "panel" sets none, so that the panel's unit applies
	// (Grafana lets a datasource's unit win over a panel default).
	Unit string `json:"unit"`
	// Limit bounds the events of an annotation query (default and cap
	// bridge.DefaultEventLimit).
	Limit int `json:"limit"`
}

// UnitPanel is the QueryModel.Unit that leaves units to the panel.
const UnitPanel = "panel"

// specs are the target specs of the query: Target (comma-separated) and
// Node with Field and Fields; each may hold multi-value variables ({a,b})
// and wildcards (*).
func (m QueryModel) specs() ([]string, error) {
	out := bridge.SplitSpecs(m.Target)
	fields := m.Fields
	if m.Field != "" {
		fields = append([]string{m.Field}, fields...)
	}
	if m.Node == "" && len(fields) > 0 {
		return nil, protocol.Errorf(protocol.InvalidArgument, "query names fields but no node")
	}
	for _, f := range fields {
		out = append(out, m.Node+bridge.TargetSep+f)
	}
	if len(out) == 0 {
		return nil, protocol.Errorf(protocol.InvalidArgument, "query selects no field: set node and field")
	}
	return out, nil
}

// targets resolves the query's specs into distinct targets.
func (d *Datasource) targets(ctx context.Context, m QueryModel) ([]bridge.Target, error) {
	specs, err := m.specs()
	if err != nil {
		return nil, err
	}
	var out []bridge.Target
	seen := map[bridge.Target]bool{}
	for _, spec := range specs {
		ts, err := d.core.Resolve(ctx, spec)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// QueryData answers every query of the request, in parallel.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp := backend.NewQueryDataResponse()
	if d.broken != nil {
		for _, q := range req.Queries {
			resp.Responses[q.RefID] = errResponse(d.broken)
		}
		return resp, nil
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, q := range req.Queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := d.query(ctx, q)
			mu.Lock()
			resp.Responses[q.RefID] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return resp, nil
}

func errResponse(err error) backend.DataResponse {
	status := backend.StatusBadRequest
	src := backend.ErrorSourceDownstream
	switch protocol.KindOf(err) {
	case protocol.InvalidArgument:
		src = backend.ErrorSourcePlugin
	case protocol.UnknownField, protocol.NoSuchNode:
		status = backend.StatusNotFound
	case protocol.Unavailable:
		status = backend.StatusTimeout
	case protocol.NotAuthorized:
		status = backend.StatusForbidden
	case protocol.Internal:
		status = backend.StatusBadGateway
	}
	r := backend.ErrDataResponse(status, err.Error())
	r.ErrorSource = src
	return r
}

func (d *Datasource) query(ctx context.Context, q backend.DataQuery) backend.DataResponse {
	var m QueryModel
	if err := json.Unmarshal(q.JSON, &m); err != nil {
		return errResponse(protocol.Errorf(protocol.InvalidArgument, "malformed query JSON: %v", err))
	}
	if m.QueryType == "" {
		m.QueryType = q.QueryType
	}
	ts, err := d.targets(ctx, m)
	if err != nil {
		return errResponse(err)
	}
	keep, notices := bridge.CompileFilters(m.Filters)
	var kept []bridge.Target
	for _, t := range ts {
		if keep(t) {
			kept = append(kept, t)
		}
	}
	r := bridge.Request{Targets: kept, From: q.TimeRange.From, To: q.TimeRange.To,
		MaxPoints: int(q.MaxDataPoints), Interval: q.Interval, Agg: m.Agg}
	if m.QueryType == QueryTypeAnnotations {
		r.Agg = "" // annotations choose how they read
	}
	if err := d.core.Validate(&r); err != nil {
		return errResponse(err)
	}
	if len(kept) > bridge.DefaultMaxTargets {
		return errResponse(protocol.Errorf(protocol.InvalidArgument, "the query selects %d series, more than %d", len(kept), bridge.DefaultMaxTargets))
	}
	if len(kept) == 0 {
		f := data.NewFrame("")
		f.Meta = &data.FrameMeta{Notices: warnings(append(notices, "no series left after the ad-hoc filters"))}
		return backend.DataResponse{Frames: data.Frames{f}}
	}
	if m.QueryType == QueryTypeAnnotations {
		a, err := d.core.Annotations(ctx, bridge.AnnotationRequest{Targets: kept, From: q.TimeRange.From, To: q.TimeRange.To, Limit: m.Limit})
		if err != nil {
			return errResponse(err)
		}
		f := AnnotationFrame(a)
		f.Meta.Notices = append(warnings(notices), f.Meta.Notices...)
		return backend.DataResponse{Frames: data.Frames{f}}
	}
	series, err := d.core.Query(ctx, r)
	if err != nil {
		return errResponse(err)
	}
	var frames data.Frames
	for _, s := range series {
		f := SeriesFrame(s)
		if m.Unit == UnitPanel {
			f.Fields[1].Config.Unit = ""
		}
		f.Meta.Notices = warnings(notices)
		if m.Live {
			f.Meta.Channel = "ds/" + d.uid + "/" + StreamPath(s.Target.Node, s.Target.Field)
		}
		f.Meta.ExecutedQueryString = fmt.Sprintf("%s agg=%s max_points=%d", s.Target, r.Agg, r.MaxPoints)
		frames = append(frames, f)
	}
	return backend.DataResponse{Frames: frames}
}

func warnings(texts []string) []data.Notice {
	var out []data.Notice
	for _, t := range texts {
		out = append(out, data.Notice{Severity: data.NoticeSeverityWarning, Text: t})
	}
	return out
}

// SeriesFrame turns a series into a frame of a time field and one value
// field named after the field, labelled with node and field (unique within
// a query, as alerting needs), with the Grafana unit of the node's units.
// Numeric and boolean series are timeseries-multi; string series are
// tables, as the dataplane contract allows no strings in a time series.
func SeriesFrame(s bridge.Series) *data.Frame {
	v := valueField(s.Target.Field, s.Info.Type, s.Values)
	v.Labels = data.Labels(bridge.Labels(s.Target))
	v.Config = &data.FieldConfig{DisplayNameFromDS: s.Target.String(), Unit: bridge.GrafanaUnit(s.Info)}
	v.Config.Thresholds = thresholds(s.Info.Limits)
	f := data.NewFrame(s.Target.String(), timeField(s.Times), v)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}}
	if v.Type() == data.FieldTypeNullableString {
		f.Meta.Type, f.Meta.TypeVersion = data.FrameTypeTable, data.FrameTypeVersion{}
	}
	return f
}

// timeField is a frame's time field, to the microsecond as on the wire.
func timeField(ns []int64) *data.Field {
	times := make([]time.Time, len(ns))
	for i, t := range ns {
		times[i] = frameTime(t)
	}
	return data.NewField("time", nil, times)
}

func frameTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// valueField builds a nullable field of the given protocol type (the
// column's when empty); missing values are null.
func valueField(name, typ string, vals protocol.Values) *data.Field {
	if typ == "" {
		typ = vals.Type
	}
	n := vals.Len()
	switch typ {
	case protocol.TypeString:
		out := make([]*string, n)
		for i := range out {
			if v := vals.At(i); !v.Missing() {
				s := bridge.EventText(v)
				out[i] = &s
			}
		}
		return data.NewField(name, nil, out)
	case protocol.TypeBool:
		out := make([]*bool, n)
		for i := range out {
			if f, ok := vals.At(i).Float(); ok {
				b := f != 0
				out[i] = &b
			}
		}
		return data.NewField(name, nil, out)
	}
	out := make([]*float64, n)
	for i := range out {
		if f, ok := vals.At(i).Float(); ok {
			out[i] = &f
		}
	}
	return data.NewField(name, nil, out)
}

// AnnotationFrame is an annotation answer (bridge.Core.Annotations) as
// the frame Grafana reads annotations from: time, timeEnd (null for a
// point, the end of a region), title, text and tags (comma-separated);
// its notices are the frame's warnings.
func AnnotationFrame(a bridge.Annotations) *data.Frame {
	n := len(a.Events)
	times, ends := make([]time.Time, n), make([]*time.Time, n)
	titles, texts, tags := make([]string, n), make([]string, n), make([]string, n)
	for i, e := range a.Events {
		times[i] = frameTime(e.Time)
		if e.End != 0 {
			end := frameTime(e.End)
			ends[i] = &end
		}
		titles[i], texts[i], tags[i] = e.Title, e.Text, strings.Join(e.Tags, ",")
	}
	f := data.NewFrame("annotations", data.NewField("time", nil, times), data.NewField("timeEnd", nil, ends),
		data.NewField("title", nil, titles), data.NewField("text", nil, texts), data.NewField("tags", nil, tags))
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, DataTopic: data.DataTopicAnnotations}
	for _, x := range a.Notices {
		f.Meta.Notices = append(f.Meta.Notices, data.Notice{Severity: data.NoticeSeverityWarning, Text: x.Text})
	}
	return f
}

// CheckHealth lists the data nodes through the hub.
// The message names every unusable setting, and the warnings (unknown
// keys) follow any answer.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	warn := ""
	if len(d.warnings) > 0 {
		warn = "; warnings: " + strings.Join(d.warnings, "; ")
	}
	if d.broken != nil {
		details, _ := json.Marshal(map[string]any{"error": d.broken.Error(), "warnings": d.warnings})
		return &backend.CheckHealthResult{Status: backend.HealthStatusError,
			Message: "telemesh: " + d.broken.Error() + warn, JSONDetails: details}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.core.Options().NodeTimeout)
	defer cancel()
	nodes, err := d.core.NodeNames(ctx)
	if err != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: "telemesh: " + err.Error() + warn}, nil
	}
	details, _ := json.Marshal(map[string]any{"nodes": nodes, "warnings": d.warnings})
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk,
		Message: fmt.Sprintf("telemesh: %d data nodes%s", len(nodes), warn), JSONDetails: details}, nil
}

// CallResource serves the resources of the query editor and of template
// variables: GET nodes, fields?node=N, targets, lookup?query=Q.
func (d *Datasource) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	return d.res.CallResource(ctx, req, sender)
}

// FieldDesc describes a field in the fields resource.
type FieldDesc struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Units       string `json:"units,omitempty"`
	Description string `json:"description,omitempty"`
	Timeline    string `json:"timeline"`
}

func (d *Datasource) resources() http.Handler {
	mux := http.NewServeMux()
	reply := bridge.WriteResult
	mux.HandleFunc("GET /nodes", func(w http.ResponseWriter, r *http.Request) {
		ns, err := d.core.NodeNames(r.Context())
		reply(w, ns, err)
	})
	mux.HandleFunc("GET /fields", func(w http.ResponseWriter, r *http.Request) {
		node := r.URL.Query().Get("node")
		if err := protocol.CheckNodeName(node); err != nil {
			reply(w, nil, err)
			return
		}
		fs, err := d.core.Fields(r.Context(), node)
		out := []FieldDesc{}
		for name, f := range fs {
			fd := FieldDesc{Name: name, Type: f.Type, Timeline: f.Timeline}
			if f.Units != nil {
				fd.Units = *f.Units
			}
			if f.Description != nil {
				fd.Description = *f.Description
			}
			out = append(out, fd)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		reply(w, out, err)
	})
	mux.HandleFunc("GET /lookup", func(w http.ResponseWriter, r *http.Request) {
		names, err := d.core.Lookup(r.Context(), r.URL.Query().Get("query"))
		reply(w, names, err)
	})
	mux.HandleFunc("GET /tag-keys", func(w http.ResponseWriter, r *http.Request) {
		reply(w, []map[string]string{{"text": "node"}, {"text": "field"}}, nil)
	})
	mux.HandleFunc("GET /tag-values", func(w http.ResponseWriter, r *http.Request) {
		var q string
		switch r.URL.Query().Get("key") {
		case "node":
			q = "nodes()"
		case "field":
			q = ""
		default:
			reply(w, nil, protocol.Errorf(protocol.InvalidArgument, "unknown tag key %q", r.URL.Query().Get("key")))
			return
		}
		names, err := d.core.Lookup(r.Context(), q)
		out := []map[string]string{}
		seen := map[string]bool{}
		for _, n := range names {
			if _, f, ok := strings.Cut(n, bridge.TargetSep); ok {
				n = f
			}
			if !seen[n] {
				seen[n] = true
				out = append(out, map[string]string{"text": n})
			}
		}
		reply(w, out, err)
	})
	return mux
}
