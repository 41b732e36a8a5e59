//go:build !custom || drivers.periph

package all

import _ "github.com/telemesh/telemesh/datanodes/driver/periph" // I2C and 1-wire sensors
