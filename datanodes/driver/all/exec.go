//go:build !custom || drivers.exec

package all

import _ "github.com/telemesh/telemesh/datanodes/driver/exec" // periodic commands
