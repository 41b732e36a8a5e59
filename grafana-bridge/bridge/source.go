// Package bridge serves telemesh data to Grafana. One query core
// (targets "node::field", a time range, maxDataPoints, an interval and an
// aggregation) answers two faces: an HTTP server speaking the SimpleJSON and
// simPod JSON datasource protocols, and the backend plugin in the plugin
// subpackage.
package bridge

import (
	"context"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
)

// Query is a get_data request to one data node.
type Query = consumers.Query

// Source is what the bridge needs from the WAMP side; *consumers.Client
// satisfies it.
type Source interface {
	Nodes(ctx context.Context) ([]protocol.NodeInfo, error)
	Fields(ctx context.Context, node string, start, end float64) (map[string]protocol.FieldInfo, map[string]protocol.TimelineInfo, error)
	GetData(ctx context.Context, node string, q Query) (*protocol.DataResult, error)
	Subscribe(ctx context.Context, node string, fn func(*protocol.DataResult)) (stop func(), err error)
}

var _ Source = (*consumers.Client)(nil)
