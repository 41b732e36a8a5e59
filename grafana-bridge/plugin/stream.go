package plugin

import (
	"context"
	"sort"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/protocol"
)

// StreamPath is the Grafana Live path of a node's live readings, or of one
// field of them when field is not empty: node/<node>[/<field>]. Live paths
// allow no ':', which field names may hold, so it is written '=' (which no
// field name holds).
func StreamPath(node, field string) string {
	if field == "" {
		return "node/" + node
	}
	return "node/" + node + "/" + strings.ReplaceAll(field, ":", "=")
}

// ParseStreamPath splits a live path made by StreamPath.
func ParseStreamPath(p string) (node, field string, err error) {
	parts := strings.Split(p, "/")
	if (len(parts) != 2 && len(parts) != 3) || parts[0] != "node" {
		return "", "", protocol.Errorf(protocol.InvalidArgument, "live path %q: want node/<node>[/<field>]", p)
	}
	if err := protocol.CheckNodeName(parts[1]); err != nil {
		return "", "", err
	}
	if len(parts) == 3 {
		field = strings.ReplaceAll(parts[2], "=", ":")
		if err := protocol.CheckFieldName(field); err != nil {
			return "", "", err
		}
	}
	return parts[1], field, nil
}

// SubscribeStream admits subscriptions to well-formed paths of known nodes.
func (d *Datasource) SubscribeStream(ctx context.Context, req *backend.SubscribeStreamRequest) (*backend.SubscribeStreamResponse, error) {
	node, _, err := ParseStreamPath(req.Path)
	if err != nil {
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
	nodes, err := d.core.NodeNames(ctx)
	if err != nil {
		return nil, err
	}
	i := sort.SearchStrings(nodes, node)
	if i == len(nodes) || nodes[i] != node {
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
	return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK}, nil
}

// PublishStream refuses: live data comes from the nodes only.
func (d *Datasource) PublishStream(context.Context, *backend.PublishStreamRequest) (*backend.PublishStreamResponse, error) {
	return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusPermissionDenied}, nil
}

// RunStream forwards a node's live batches as frames until Grafana cancels
// ctx (no subscriber left). With a field in the path each frame has the
// shape of that field's query frame, so panels append to it; without, one
// frame per timeline carries all its fields.
func (d *Datasource) RunStream(ctx context.Context, req *backend.RunStreamRequest, sender *backend.StreamSender) error {
	node, field, err := ParseStreamPath(req.Path)
	if err != nil {
		return err
	}
	batches := make(chan *protocol.DataResult, 64)
	stop, err := d.core.Source().Subscribe(ctx, node, func(r *protocol.DataResult) {
		select {
		case batches <- r:
		default:
			d.log.Warn("live batch dropped: Grafana is not keeping up", "node", node)
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	var info map[string]protocol.FieldInfo
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-batches:
			if info == nil || (field != "" && info[field].Timeline == "") {
				if fs, err := d.core.Fields(ctx, node); err == nil {
					info = fs
				}
			}
			for _, f := range LiveFrames(node, field, info, r) {
				if err := sender.SendFrame(f, data.IncludeAll); err != nil {
					return err
				}
			}
		}
	}
}

// LiveFrames converts a live batch to frames; info (may be nil) gives the
// fields' types and timelines, joined by protocol's one rule.
func LiveFrames(node, field string, info map[string]protocol.FieldInfo, r *protocol.DataResult) []*data.Frame {
	if field != "" {
		fi := info[field]
		s, ok := r.Series(field, fi.Timeline)
		if !ok {
			return nil
		}
		return []*data.Frame{SeriesFrame(bridge.Series{Target: bridge.Target{Node: node, Field: field}, Info: fi, Series: s})}
	}
	byTimeline := map[string][]protocol.Series{}
	var names []string
	for _, s := range r.AllSeries(func(f string) string { return info[f].Timeline }) {
		if _, ok := byTimeline[s.Timeline]; !ok {
			names = append(names, s.Timeline)
		}
		byTimeline[s.Timeline] = append(byTimeline[s.Timeline], s)
	}
	sort.Strings(names)
	out := make([]*data.Frame, 0, len(names))
	for _, name := range names {
		ss := byTimeline[name]
		f := data.NewFrame(node+"/"+name, timeField(ss[0].Times))
		for _, s := range ss { // sorted by field name
			v := valueField(s.Field, info[s.Field].Type, s.Values)
			v.Labels = data.Labels{"node": node}
			f.Fields = append(f.Fields, v)
		}
		out = append(out, f)
	}
	return out
}
