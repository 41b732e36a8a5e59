package all

import _ "github.com/telemesh/telemesh/datanodes/driver/hwmon" // hwmon sensors
