package router

import (
	"github.com/telemesh/telemesh/internal/testutil"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"gopkg.in/yaml.v3"

	"github.com/telemesh/telemesh/protocol"
)

// TestLoadConfigBad loads every testdata/*.bad.yaml and checks the error
// holds each "# want:" line of the file, one problem per line.
func TestLoadConfigBad(t *testing.T) {
	testutil.BadConfigs(t, false, func(f string) error {
		_, err := LoadConfig(f)
		return err
	})
}

func TestLoadConfigGood(t *testing.T) {
	t.Setenv("TELEMESH_TEST_HUB_TICKET", "hub-ticket")
	c, err := LoadConfig("testdata/router.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.KeepAlive != 5*time.Second || c.Listeners.WebSocket.Path != "/ws" {
		t.Errorf("decoded %+v", c)
	}
	if !reflect.DeepEqual(c.Realms[0].Roles, DefaultRoles(protocol.DefaultNames())) {
		t.Errorf("roles in testdata/router.yaml differ from DefaultRoles:\n%+v\n%+v", c.Realms[0].Roles, DefaultRoles(protocol.DefaultNames()))
	}
	c.Listeners.WebSocket.Address = "127.0.0.1:0"
	c.Listeners.RawSocket.Address = "127.0.0.1:0"
	if _, err := New(c, nil); err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Setenv("TELEMESH_TEST_HUB_TICKET", "")
	if _, err := New(c, nil); err == nil || !strings.Contains(err.Error(), "TELEMESH_TEST_HUB_TICKET is not set") {
		t.Errorf("New without the ticket variable: %v", err)
	}
}

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []protocol.Names{protocol.DefaultNames(), protocol.SisockNames()} {
		c := DefaultConfig()
		c.Realms[0].Name, c.Realms[0].Roles = n.Realm, DefaultRoles(n)
		if err := c.Validate(); err != nil {
			t.Errorf("%v: %v", n, err)
		}
	}
}

func TestCheckURIPattern(t *testing.T) {
	for _, tt := range []struct {
		uri, match string
		ok         bool
	}{
		{"a.b.c", MatchExact, true},
		{"a.b.", MatchExact, false},
		{"a.b.", MatchPrefix, true},
		{"a.b", MatchPrefix, true},
		{"", MatchPrefix, true},
		{"", MatchExact, false},
		{"", MatchWildcard, false},
		{".a", MatchPrefix, false},
		{"a..c", MatchWildcard, true},
		{"a.#.c", MatchWildcard, false},
		{"a.b c", MatchExact, false},
	} {
		if err := CheckURIPattern(tt.uri, tt.match); (err == nil) != tt.ok {
			t.Errorf("CheckURIPattern(%q, %s) = %v", tt.uri, tt.match, err)
		}
	}
}

// TestAnonymousAddressPolicy checks allow_from and that the compose
// router never gives anonymous clients a role from any address.
func TestAnonymousAddressPolicy(t *testing.T) {
	nets, err := parseCIDRs([]string{"172.16.0.0/12"})
	if err != nil {
		t.Fatal(err)
	}
	a := &anonymousAuth{role: "consumer", allowFrom: nets}
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "[::1]:2": true, "172.18.0.5:3": true, "192.0.2.1:4": false, "[2001:db8::1]:5": false,
	} {
		_, err := a.Authenticate(1, wamp.Dict{"transport": wamp.Dict{"peer": addr}}, nil)
		if got := err == nil; got != want {
			t.Errorf("anonymous from %s admitted %v, want %v", addr, got, want)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "deploy", "compose", "router.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Realms {
		an := r.Auth.Anonymous
		if an == nil {
			continue
		}
		if !an.LoopbackOnly && len(an.AllowFrom) == 0 {
			t.Errorf("compose realm %s admits anonymous sessions from any address", r.Name)
		}
		for _, n := range an.AllowFrom {
			if _, ipn, err := net.ParseCIDR(n); err != nil || ipn.IP.IsUnspecified() {
				t.Errorf("compose realm %s: anonymous allow_from %q", r.Name, n)
			}
		}
	}
	if _, err := parseConfig([]byte("listeners: {websocket: {address: 127.0.0.1:0}}\nrealms: [{name: r, auth: {anonymous: {role: x, allow_from: [nonsense]}}, roles: [{name: x}]}]\n"), t.TempDir()); err == nil || !strings.Contains(err.Error(), "allow_from") {
		t.Errorf("bad allow_from: %v", err)
	}
}
