// Package all links every archiver sink into the binary.
package all

import (
	_ "github.com/telemesh/telemesh/archive/sink/influx"   // InfluxDB 1.x/2.x, VictoriaMetrics
	_ "github.com/telemesh/telemesh/archive/sink/postgres" // PostgreSQL, TimescaleDB
)
