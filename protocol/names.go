package protocol

import (
	"fmt"
	"regexp"
)

// Default realm and base URI of a telemesh deployment.
const (
	DefaultRealm = "telemesh"
	DefaultBase  = "telemesh"
)

// Realm and base URI of the sisock profile.
const (
	SisockRealm = "test_realm"
	SisockBase  = "org.simonsobservatory"
)

// Names holds the realm and base URI of a deployment and builds every URI of
// the protocol from them.
type Names struct {
	Realm string `yaml:"realm" json:"realm"`
	Base  string `yaml:"base" json:"base"`
}

// DefaultNames returns the names of a default telemesh deployment.
func DefaultNames() Names { return Names{Realm: DefaultRealm, Base: DefaultBase} }

// SisockNames returns the names of the sisock profile.
func SisockNames() Names { return Names{Realm: SisockRealm, Base: SisockBase} }

// Profile returns the names of a named profile: "" or "telemesh" for the
// defaults, "sisock" for the sisock profile.
func Profile(name string) (Names, error) {
	switch name {
	case "", "telemesh", "default":
		return DefaultNames(), nil
	case "sisock":
		return SisockNames(), nil
	}
	return Names{}, fmt.Errorf("unknown profile %q (want telemesh or sisock)", name)
}

// URI joins the base URI and a suffix with a dot.
func (n Names) URI(suffix string) string { return n.Base + "." + suffix }

// DataNodeAdd is the hub procedure a node calls to announce itself.
func (n Names) DataNodeAdd() string { return n.URI("data_node.add") }

// DataNodeSubtract is the hub procedure a node calls when it leaves.
func (n Names) DataNodeSubtract() string { return n.URI("data_node.subtract") }

// GetDataNode is the sisock hub procedure listing {name, description}.
func (n Names) GetDataNode() string { return n.URI("consumer.get_data_node") }

// ListNodes is the hub procedure listing nodes with their fields and meta.
func (n Names) ListNodes() string { return n.URI("consumer.list_nodes") }

// DataNodeAdded is the topic the hub publishes when a node joins.
func (n Names) DataNodeAdded() string { return n.URI("consumer.data_node_added") }

// DataNodeSubtracted is the topic the hub publishes when a node leaves.
func (n Names) DataNodeSubtracted() string { return n.URI("consumer.data_node_subtracted") }

// HubReady is the topic a (re)started hub publishes so nodes re-announce.
func (n Names) HubReady() string { return n.URI("hub.ready") }

// ConsumerPrefix is the prefix under which consumers may call and subscribe.
func (n Names) ConsumerPrefix() string { return n.URI("consumer.") }

// NodePrefix is the URI prefix that the data node named node owns.
func (n Names) NodePrefix(node string) string { return n.URI("consumer." + node + ".") }

// GetFields is the get_fields procedure of the data node named node.
func (n Names) GetFields(node string) string { return n.NodePrefix(node) + "get_fields" }

// GetData is the get_data procedure of the data node named node.
func (n Names) GetData(node string) string { return n.NodePrefix(node) + "get_data" }

// Data is the live topic of the data node named node.
func (n Names) Data(node string) string { return n.NodePrefix(node) + "data" }

// ErrorURI is the WAMP error URI of an error kind.
func (n Names) ErrorURI(k Kind) string { return n.URI("error." + string(k)) }

var (
	nodeNameRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	fieldNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// ValidNodeName reports whether s may name a data node (one URI component).
func ValidNodeName(s string) bool { return nodeNameRE.MatchString(s) }

// ValidFieldName reports whether s may name a field or a timeline.
func ValidFieldName(s string) bool { return fieldNameRE.MatchString(s) }

// CheckNodeName returns an InvalidArgument error when s cannot name a node.
func CheckNodeName(s string) error {
	if !ValidNodeName(s) {
		return Errorf(InvalidArgument, "invalid node name %q: want 1-64 of A-Z a-z 0-9 _ -", s)
	}
	return nil
}

// CheckFieldName returns an InvalidArgument error when s cannot name a field.
func CheckFieldName(s string) error {
	if !ValidFieldName(s) {
		return Errorf(InvalidArgument, "invalid field name %q: want 1-128 of A-Z a-z 0-9 _ . : -", s)
	}
	return nil
}
