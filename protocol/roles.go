package protocol

// The default roles of a telemesh realm.
const (
	RoleHub      = "hub"
	RoleDataNode = "datanode"
	RoleConsumer = "consumer"
	RoleAdmin    = "admin"
)
