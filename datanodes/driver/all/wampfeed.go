//go:build !custom || drivers.wampfeed

package all

import _ "github.com/telemesh/telemesh/datanodes/driver/wampfeed" // OCS agent feeds
