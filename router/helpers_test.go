package router

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"golang.org/x/crypto/pbkdf2"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// Credentials of the test realm.
const (
	nodeTicket  = "node-ticket-1"
	hubTicket   = "hub-ticket-1"
	craSecret   = "cra-secret"
	craPassword = "salted-password"
	craSalt     = "salt123"
	seedHex     = "4d3f27bca6a7e2e4ec1d1b6bd0a9b3fb4a0c54a8e4e53e7c2f0a0d5ff0c7e1a2"
)

var testNames = protocol.DefaultNames()

// saltedKey derives a salted WAMP-CRA key the way crossbar stores it.
func saltedKey(password, salt string, iters, keylen int) string {
	return base64.StdEncoding.EncodeToString(pbkdf2.Key([]byte(password), []byte(salt), iters, keylen, sha256.New))
}

func testPubKey(t testing.TB) string {
	seed, err := hex.DecodeString(seedHex)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
}

// testConfig is a router on loopback ports chosen by the kernel with the
// default roles and one principal per authentication method.
func testConfig(t testing.TB) Config {
	c := DefaultConfig()
	c.Listeners.WebSocket.Address = "127.0.0.1:0"
	c.Listeners.RawSocket.Address = "127.0.0.1:0"
	c.Realms[0].Auth = AuthConfig{
		Anonymous: &AnonymousAuth{Role: protocol.RoleConsumer, LoopbackOnly: true},
		Ticket: &TicketAuth{Principals: map[string]TicketPrincipal{
			"node1": {Ticket: nodeTicket, Role: protocol.RoleDataNode},
			"hub":   {Ticket: hubTicket, Role: protocol.RoleHub},
		}},
		WAMPCRA: &WAMPCRAAuth{Users: map[string]CRAUser{
			"node2":  {Secret: craSecret, Role: protocol.RoleDataNode},
			"salted": {Secret: saltedKey(craPassword, craSalt, 1000, 32), Salt: craSalt, Iterations: 1000, KeyLen: 32, Role: protocol.RoleDataNode},
		}},
		Cryptosign: &CryptosignAuth{Principals: map[string]CryptosignPrincipal{
			"node3": {AuthorizedKeys: []string{testPubKey(t)}, Role: protocol.RoleDataNode},
		}},
	}
	return c
}

// startServer runs a router until the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, s.Run, s.Ready())
	return s
}

// dial connects a client through wampx, as telemesh components do.
func dial(t testing.TB, c wampx.Config) (*client.Client, error) {
	t.Helper()
	if c.Realm == "" {
		c.Realm = testNames.Realm
	}
	d, err := c.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := d(ctx)
	if err == nil {
		t.Cleanup(func() { cl.Close() })
	}
	return cl, err
}

func mustDial(t testing.TB, c wampx.Config) *client.Client {
	t.Helper()
	cl, err := dial(t, c)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
