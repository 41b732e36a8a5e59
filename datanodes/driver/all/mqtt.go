//go:build !custom || drivers.mqtt

package all

import _ "github.com/telemesh/telemesh/datanodes/driver/mqtt" // MQTT brokers (simoc-sam)
