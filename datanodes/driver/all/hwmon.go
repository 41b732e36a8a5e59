//go:build !custom || drivers.hwmon

package all

import _ "github.com/telemesh/telemesh/datanodes/driver/hwmon" // hwmon sensors
