package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// Settings is a datasource's jsonData. The WAMP secret comes from
// secureJsonData.secret.
type Settings struct {
	// URL of the router (default ws://127.0.0.1:8080/ws).
	URL string `json:"url"`
	// Profile telemesh or sisock; Realm and BaseURI override it.
	Profile    string `json:"profile"`
	Realm      string `json:"realm"`
	BaseURI    string `json:"baseUri"`
	AuthID     string `json:"authid"`
	AuthMethod string `json:"authmethod"`
	CAFile     string `json:"caFile"`
	Serializer string `json:"serializer"`
	// NodeTimeout in seconds bounds each node call (default 10).
	NodeTimeout float64 `json:"nodeTimeout"`
	// DefaultAgg applies to queries that name no aggregation.
	DefaultAgg string `json:"defaultAgg"`
}

// DefaultURL is the router URL when the settings give none.
const DefaultURL = "ws://127.0.0.1:8080/ws"

// ParseSettings decodes and checks a datasource's settings, strictly:
// unknown keys are errors.
func ParseSettings(s backend.DataSourceInstanceSettings) (wampx.Config, protocol.Names, bridge.Options, error) {
	var st Settings
	if len(s.JSONData) > 0 {
		dec := json.NewDecoder(bytes.NewReader(s.JSONData))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			return wampx.Config{}, protocol.Names{}, bridge.Options{}, fmt.Errorf("datasource %s: jsonData: %w", s.Name, err)
		}
	}
	n, err := protocol.Profile(st.Profile)
	if err != nil {
		return wampx.Config{}, n, bridge.Options{}, err
	}
	if st.Realm != "" {
		n.Realm = st.Realm
	}
	if st.BaseURI != "" {
		n.Base = st.BaseURI
	}
	if st.URL == "" {
		st.URL = s.URL
	}
	if st.URL == "" {
		st.URL = DefaultURL
	}
	if st.NodeTimeout < 0 {
		return wampx.Config{}, n, bridge.Options{}, fmt.Errorf("nodeTimeout %v is negative", st.NodeTimeout)
	}
	if st.DefaultAgg != "" {
		if err := protocol.CheckAgg(st.DefaultAgg); err != nil {
			return wampx.Config{}, n, bridge.Options{}, fmt.Errorf("defaultAgg: %w", err)
		}
	}
	cfg := wampx.Config{URL: st.URL, Realm: n.Realm, AuthID: st.AuthID, AuthMethod: st.AuthMethod,
		Secret: s.DecryptedSecureJSONData["secret"], CAFile: st.CAFile, Serializer: st.Serializer}
	opts := bridge.Options{NodeTimeout: time.Duration(st.NodeTimeout * float64(time.Second)), DefaultAgg: st.DefaultAgg}
	return cfg, n, opts, nil
}

// ConsumersConnect connects each datasource instance to its router with a
// consumers.Client that keeps its session (reconnecting) until Dispose.
func ConsumersConnect(logger *slog.Logger) Connect {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(_ context.Context, s backend.DataSourceInstanceSettings) (bridge.Source, bridge.Options, func(), error) {
		cfg, n, opts, err := ParseSettings(s)
		if err != nil {
			return nil, opts, nil, err
		}
		dial, err := cfg.Dialer(logger)
		if err != nil {
			return nil, opts, nil, fmt.Errorf("datasource %s: %w", s.Name, err)
		}
		c := consumers.New(dial, n, logger)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				logger.Error("telemesh session ended", "err", err)
			}
		}()
		return c, opts, func() { cancel(); <-done }, nil
	}
}
