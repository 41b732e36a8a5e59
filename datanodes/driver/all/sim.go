// Package all registers every telemesh driver: import it for its side
// effects (one blank import per driver, one file per driver).
package all

import _ "github.com/telemesh/telemesh/datanodes/driver/sim" // the simulated driver
