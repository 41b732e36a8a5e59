package web_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/telemesh/telemesh/consumers/web"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router"
	"github.com/telemesh/telemesh/wampx"
)

// TestBrowserLogin serves the dashboard from telemesh's own router, whose
// realm admits only WAMP-CRA users with salted secrets and ticket users: the
// page must ask for credentials, refuse a wrong secret, connect with the
// right one, keep it in sessionStorage only, and forget it on logout.
func TestBrowserLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test")
	}
	nodeBin, chromium, here := needBrowser(t)
	art := artifacts(t)

	names := protocol.DefaultNames()
	const password, salt, iterations, keylen = "correct horse", "pepper", 1000, 32
	key, err := pbkdf2.Key(sha256.New, password, []byte(salt), iterations, keylen)
	if err != nil {
		t.Fatal(err)
	}
	cfg := router.Config{
		Listeners: router.Listeners{WebSocket: router.WebSocketListener{Address: "127.0.0.1:0"}},
		Realms: []router.RealmConfig{{
			Name:  names.Realm,
			Roles: router.DefaultRoles(names),
			Auth: router.AuthConfig{Ticket: &router.TicketAuth{Principals: map[string]router.TicketPrincipal{
				"operator": {Ticket: "op-ticket", Role: "consumer"},
			}}, WAMPCRA: &router.WAMPCRAAuth{Users: map[string]router.CRAUser{
				"viewer": {Secret: base64.StdEncoding.EncodeToString(key), Role: "consumer", Salt: salt, Iterations: iterations, KeyLen: keylen},
				"hub":    {Secret: "hub-secret", Role: "hub"},
				"sim":    {Secret: "sim-secret", Role: "datanode"},
			}}},
		}},
	}
	srv, err := router.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle("/", web.Handler(web.Options{Realm: names.Realm, Base: names.Base, WSPath: "/ws"}))
	run(t, "router", srv.Run)
	select {
	case <-srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("router not ready")
	}
	// The hub and the node connect over the network like remote ones do.
	dial := func(authid, secret string) wampx.Dialer {
		d, err := wampx.Config{URL: srv.WebSocketURL(), Realm: names.Realm, AuthID: authid, AuthMethod: "wampcra",
			Secret: secret, Serializer: "json", Timeout: 2 * time.Second}.Dialer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	h, err := hub.New(hub.Config{Names: names, Dial: dial("hub", "hub-secret")})
	if err != nil {
		t.Fatal(err)
	}
	run(t, "hub", h.Run)
	startNode(t, dial("sim", "sim-secret"), "sim", "simulated room sensors", "interval: 100ms\nseed: 1\n")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(here, "e2e", "login.mjs"))
	cmd.Env = append(os.Environ(),
		"TELEMESH_URL=http://"+srv.Addrs().WebSocket+"/",
		"TELEMESH_CHROMIUM="+chromium,
		"TELEMESH_ARTIFACTS_DIR="+art,
		"TELEMESH_PROFILE_DIR="+t.TempDir(),
		"TELEMESH_USER=viewer",
		"TELEMESH_PASSWORD="+password,
		"TELEMESH_TICKET_USER=operator",
		"TELEMESH_TICKET=op-ticket",
	)
	lw := &logWriter{t: t, prefix: "login.mjs: "}
	cmd.Stdout, cmd.Stderr = lw, lw
	if err := cmd.Run(); err != nil {
		t.Fatalf("login.mjs: %v", err)
	}
}
