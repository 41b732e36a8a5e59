package cli

import (
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
	ucli "github.com/urfave/cli/v2"
)

// clientFlags are the flags of every command that connects to a router as
// a client. They are defined once so that every command spells them alike.
func clientFlags() []ucli.Flag {
	return append(namingFlags(), []ucli.Flag{
		&ucli.StringFlag{Name: "url", Value: "ws://127.0.0.1:8080/ws", Usage: "router URL: ws://, wss://, tcp://, tcps:// or unix://"},
		&ucli.StringFlag{Name: "authid", Usage: "authentication id; empty for anonymous"},
		&ucli.StringFlag{Name: "authmethod", Usage: "anonymous, ticket, wampcra or cryptosign (default wampcra with an authid)"},
		&ucli.StringFlag{Name: "secret", Usage: "ticket, WAMP-CRA secret or hex cryptosign seed; prefer --secret-file or the environment"},
		&ucli.StringFlag{Name: "secret-file", Usage: "file holding the secret"},
		&ucli.StringFlag{Name: "ca-file", Usage: "PEM file of the CA to trust for wss:// and tcps://"},
		&ucli.StringFlag{Name: "serializer", Value: "msgpack", Usage: "json, msgpack or cbor"},
	}...)
}

// namingFlags select the realm and base URI: a profile, or each by name.
func namingFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "profile", Value: "telemesh", Usage: "naming profile: telemesh or sisock (realm test_realm, base URI org.simonsobservatory)"},
		&ucli.StringFlag{Name: "realm", Usage: "realm (default: the profile's)"},
		&ucli.StringFlag{Name: "base-uri", Usage: "base URI of the protocol (default: the profile's)"},
	}
}

// names returns the protocol names that the profile, realm and base-uri
// flags select.
func names(c *ucli.Context) (protocol.Names, error) {
	n, err := protocol.Profile(c.String("profile"))
	if err != nil {
		return n, err
	}
	if r := c.String("realm"); r != "" {
		n.Realm = r
	}
	if b := c.String("base-uri"); b != "" {
		n.Base = b
	}
	return n, nil
}

// clientConfig returns the connection settings the client flags give.
func clientConfig(c *ucli.Context) (wampx.Config, protocol.Names, error) {
	n, err := names(c)
	if err != nil {
		return wampx.Config{}, n, err
	}
	return wampx.Config{
		URL:        c.String("url"),
		Realm:      n.Realm,
		AuthID:     c.String("authid"),
		AuthMethod: c.String("authmethod"),
		Secret:     c.String("secret"),
		SecretFile: c.String("secret-file"),
		CAFile:     c.String("ca-file"),
		Serializer: c.String("serializer"),
	}, n, nil
}
