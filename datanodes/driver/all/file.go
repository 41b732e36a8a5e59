//go:build !custom || drivers.file

package all

import _ "github.com/telemesh/telemesh/datanodes/driver/file" // text/CSV time-series files
