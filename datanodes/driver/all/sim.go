//go:build !custom || drivers.sim

package all

import _ "github.com/telemesh/telemesh/datanodes/driver/sim" // the simulated driver
