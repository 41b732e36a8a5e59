//go:build tools

// Package tools pins modules that packages still being written will import,
// so go.mod and go.sum hold them while work is under way.
package tools

import (
	_ "github.com/compose-spec/compose-go/v2/loader"
	_ "github.com/eclipse/paho.mqtt.golang"
	_ "github.com/gammazero/nexus/v3/client"
	_ "github.com/gammazero/nexus/v3/router"
	_ "github.com/gammazero/nexus/v3/router/auth"
	_ "github.com/grafana/grafana-plugin-sdk-go/backend"
	_ "github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	_ "github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"
	_ "github.com/grafana/grafana-plugin-sdk-go/data"
	_ "github.com/grafana/grafana-plugin-sdk-go/experimental/datasourcetest"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/urfave/cli/v2"
	_ "golang.org/x/sync/errgroup"
	_ "gopkg.in/yaml.v3"
	_ "periph.io/x/conn/v3/i2c/i2ctest"
	_ "periph.io/x/conn/v3/onewire/onewiretest"
	_ "periph.io/x/devices/v3/bmxx80"
	_ "periph.io/x/devices/v3/ds18b20"
	_ "periph.io/x/devices/v3/ina219"
	_ "periph.io/x/devices/v3/scd4x"
	_ "periph.io/x/devices/v3/sgp30"
	_ "periph.io/x/host/v3"
)
