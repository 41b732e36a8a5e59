package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router"
	"github.com/telemesh/telemesh/tls/pki"
)

// startRouter runs a telemesh router on loopback ports chosen by the
// kernel until the test ends and returns it once it listens.
func startRouter(t *testing.T, cfg router.Config) *router.Server {
	t.Helper()
	srv, err := router.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("router did not start")
	}
	return srv
}

// TestNonRetryableErrorsEndAtOnce runs consumer commands against real
// routers with something wrong that no retry can cure, and wants each to
// end within 2 s with its cause, not after the connect timeout.
func TestNonRetryableErrorsEndAtOnce(t *testing.T) {
	plain := router.DefaultConfig()
	plain.Listeners.WebSocket.Address = "127.0.0.1:0"
	plain.Listeners.RawSocket.Address = "127.0.0.1:0"
	plain.Realms[0].Auth.WAMPCRA = &router.WAMPCRAAuth{Users: map[string]router.CRAUser{"lab1": {Secret: "right", Role: protocol.RoleConsumer}}}
	plain.Realms = append(plain.Realms, router.RealmConfig{Name: "closed", Roles: plain.Realms[0].Roles,
		Auth: router.AuthConfig{WAMPCRA: plain.Realms[0].Auth.WAMPCRA}})
	p := startRouter(t, plain)

	certs, err := pki.Init(filepath.Join(t.TempDir(), "certs"), pki.Options{CN: "localhost", SANs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	secure := router.DefaultConfig()
	tc := router.TLSConfig{Cert: certs.Cert, Key: certs.Key}
	secure.Listeners.WebSocket = router.WebSocketListener{Address: "127.0.0.1:0", TLS: tc}
	secure.Listeners.RawSocket = router.RawSocketListener{Address: "127.0.0.1:0", TLS: tc}
	s := startRouter(t, secure)
	swap := func(url, from, to string) string { return to + strings.TrimPrefix(url, from) }

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"wrong secret", []string{"nodes", "--url", p.WebSocketURL(), "--authid", "lab1", "--secret", "wrong"}, []string{"refused", `authid "lab1"`, "--authid"}},
		{"unknown user", []string{"nodes", "--url", p.WebSocketURL(), "--authid", "nobody", "--secret", "x"}, []string{"refused", "nobody"}},
		{"unknown realm", []string{"nodes", "--url", p.WebSocketURL(), "--realm", "nope"}, []string{`no realm "nope"`, "--profile sisock"}},
		{"unknown realm rawsocket", []string{"nodes", "--url", p.RawSocketURL(), "--realm", "nope"}, []string{`no realm "nope"`}},
		{"no such node", []string{"fields", "--url", p.WebSocketURL(), "nosuch"}, []string{`no data node named "nosuch"`, "telemesh nodes lists"}},
		{"get from no such node", []string{"get", "--url", p.WebSocketURL(), "nosuch", "co2"}, []string{`no data node named "nosuch"`, "--profile sisock"}},
		{"untrusted certificate", []string{"nodes", "--url", s.WebSocketURL()}, []string{"not trusted", "--ca-file"}},
		{"untrusted certificate rawsocket", []string{"nodes", "--url", s.RawSocketURL()}, []string{"not trusted", "--ca-file"}},
		{"ws against TLS", []string{"nodes", "--url", swap(s.WebSocketURL(), "wss://", "ws://")}, []string{"expects TLS", "use wss://"}},
		{"tcp against TLS", []string{"nodes", "--url", swap(s.RawSocketURL(), "tcps://", "tcp://")}, []string{"expects TLS", "use tcps://"}},
		{"anonymous refused", []string{"nodes", "--url", p.WebSocketURL(), "--realm", "closed"}, []string{"refused anonymous sessions"}},
		{"wss against plain", []string{"nodes", "--url", swap(p.WebSocketURL(), "ws://", "wss://")}, []string{"speaks TLS but the router does not", "use ws://"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			start := time.Now()
			_, err := runCtx(ctx, &syncBuffer{}, append(tc.args, "--connect-timeout", "30s")...)
			took := time.Since(start)
			if err == nil {
				t.Fatal("no error")
			}
			if limit := raceSlowdown * 2 * time.Second; took > limit {
				t.Errorf("took %v, want under %v: %v", took, limit, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}
