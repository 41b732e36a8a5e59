package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// The node credential `telemesh up` writes into its data dir, so that a
// real node joins the running stack in one command without opening the
// router to anonymous writers: a WAMP-CRA user that may serve any node name.
const (
	nodeAuthID     = "node"
	nodeRole       = "nodes"
	nodeSecretFile = "node.secret"
)

// webURL is the http:// or https:// address of the page served next to a
// ws:// or wss:// WAMP endpoint: TLS on one is TLS on the other.
func webURL(wsURL string) string {
	scheme, rest, _ := strings.Cut(wsURL, "://")
	host, _, _ := strings.Cut(rest, "/")
	if scheme == "wss" {
		return "https://" + host + "/"
	}
	return "http://" + host + "/"
}

// nodeSecretPath is where up keeps the node credential's secret.
func nodeSecretPath(dataDir string) string { return filepath.Join(dataDir, nodeSecretFile) }

// nodeCommands returns the commands that add a node to a running up: on
// this machine (which finds the credential in the data dir), and from
// another one, or why that needs another --ws-listen.
func nodeCommands(wsURL, dataDir, profile string) (local, lan string) {
	extra := ""
	if profile != "" && profile != "telemesh" {
		extra = " --profile " + profile
	}
	local = "telemesh node --name NAME --driver hwmon --data-dir " + dataDir + extra
	u := strings.SplitN(strings.SplitN(wsURL, "://", 2)[1], "/", 2)
	host, port, err := net.SplitHostPort(u[0])
	if err != nil {
		return local, ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return local, ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	scheme := strings.SplitN(wsURL, "://", 2)[0]
	url := scheme + "://" + net.JoinHostPort(host, port) + "/" + u[1]
	lan = fmt.Sprintf("telemesh node --name NAME --driver hwmon --url %s --authid %s --secret-file %s%s", url, nodeAuthID, nodeSecretFile, extra)
	if scheme == "wss" {
		lan += " --ca-file ca.crt"
	}
	return local, lan
}

// logNodeCommands tells the user of up how to add a real node.
func logNodeCommands(log *slog.Logger, wsURL, dataDir, profile string) {
	local, lan := nodeCommands(wsURL, dataDir, profile)
	log.Info("add a data node on this machine", "command", local)
	if lan == "" {
		log.Info("to add data nodes from other machines, listen on the LAN too", "flag", "--ws-listen 0.0.0.0:8080")
		return
	}
	log.Info("add a data node from another machine: copy "+nodeSecretPath(dataDir)+" there, then run", "command", lan)
}

// useLocalNodeCredential makes an anonymous node configuration use the
// credential a telemesh up keeps in the same data dir, when there is one;
// it reports whether it did.
func useLocalNodeCredential(r *wampx.Config, dataDir string) bool {
	if r.AuthID != "" || r.Secret != "" || r.SecretFile != "" {
		return false
	}
	path := nodeSecretPath(dataDir)
	if _, err := os.Stat(path); err != nil {
		return false
	}
	r.AuthID, r.AuthMethod, r.SecretFile = nodeAuthID, "wampcra", path
	return true
}

// nodePreflight opens one session the way the node will and registers
// its get_fields for a moment, so that what no retry cures (refused
// credentials, TLS, an unknown realm, a role that may not serve this
// name) ends `telemesh node` at once with a hint instead of looping. A
// router that does not answer is not an error here: the node starts,
// keeps its readings and connects when the router is up.
func nodePreflight(ctx context.Context, dial wampx.Dialer, cfg wampx.Config, n protocol.Names, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := dial(ctx)
	if err != nil {
		return permanentDialError(err, cfg)
	}
	defer s.Close()
	proc := n.GetFields(name)
	err = s.Register(proc, func(context.Context, *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Err: wamp.ErrCanceled}
	}, nil)
	if err == nil {
		s.Unregister(proc)
		return nil
	}
	if strings.Contains(err.Error(), string(wamp.ErrNotAuthorized)) || strings.Contains(err.Error(), string(wamp.ErrAuthorizationFailed)) {
		who := "anonymous sessions are read-only consumers"
		if cfg.AuthID != "" {
			who = fmt.Sprintf("authid %q may not serve a node named %q (the datanode role serves only its own authid's name)", cfg.AuthID, name)
		}
		return fmt.Errorf("the router refused to let this node register %s: %s; give the node credentials: next to a telemesh up, run it with up's --data-dir (it holds %s), or pass --authid and --secret-file", proc, who, nodeSecretFile)
	}
	return nil // e.g. the name is still held by a session that is going away
}
