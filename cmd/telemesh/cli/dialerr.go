package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// permanentDialError returns the error, with its cause and a hint, when a
// failed dial is one that dialling again cannot cure; nil when a retry
// may succeed (the router is starting, the network is down).
func permanentDialError(err error, cfg wampx.Config) error {
	msg := err.Error()
	tlsURL := strings.HasPrefix(cfg.URL, "wss:") || strings.HasPrefix(cfg.URL, "tcps:")
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownCA) || strings.Contains(msg, "certificate signed by unknown authority"):
		return fmt.Errorf("the router's certificate is not trusted at %s (%v); pass the CA that signed it with --ca-file (telemesh tls init wrote it as ca.crt)", cfg.URL, err)
	case errors.As(err, &hostErr) || strings.Contains(msg, "certificate is valid for") || strings.Contains(msg, "certificate is not valid for any names"):
		return fmt.Errorf("the router's certificate does not name the host of %s (%v); connect by a name in its SANs (telemesh tls show lists them) or renew it with telemesh tls init --san ... --force", cfg.URL, err)
	case errors.As(err, &invalid) || errors.As(err, &verify):
		return fmt.Errorf("the router's certificate is not valid at %s (%v); telemesh tls show describes it", cfg.URL, err)
	case errors.As(err, &record) || strings.Contains(msg, "first record does not look like a TLS handshake"):
		return fmt.Errorf("%s speaks TLS but the router does not (%v); use %s", cfg.URL, err, swapScheme(cfg.URL, false))
	case !tlsURL && (strings.Contains(msg, "HTTP request to an HTTPS server") || strings.Contains(msg, "bad handshake") && strings.Contains(msg, "400")):
		return fmt.Errorf("the router at %s expects TLS (%v); use %s, with --ca-file if its CA is not in the system's pool", cfg.URL, err, swapScheme(cfg.URL, true))
	case strings.Contains(msg, string(wamp.ErrNoSuchRealm)):
		return fmt.Errorf("the router has no realm %q (%v); check --realm, or --profile (sisock deployments use --profile sisock, realm %s)", cfg.Realm, err, protocol.SisockRealm)
	case strings.Contains(msg, string(wamp.ErrAuthenticationFailed)) || strings.Contains(msg, string(wamp.ErrNoAuthMethod)) ||
		strings.Contains(msg, string(wamp.ErrNotAuthorized)) || strings.Contains(msg, string(wamp.ErrAuthorizationFailed)) ||
		strings.Contains(msg, "when expecting WELCOME") || authRefused(msg):
		who := "anonymous sessions"
		if cfg.AuthID != "" {
			who = fmt.Sprintf("authid %q", cfg.AuthID)
		}
		return fmt.Errorf("the router refused %s (%v); check --authid and the secret (--secret-file, TELEMESH_SECRET), and that the router admits this method (anonymous access is for loopback only by default)", who, err)
	}
	return nil
}

// authRefused reports whether msg carries one of the reasons that nexus
// and the telemesh router give when they refuse a session's credentials;
// nexus passes them on as bare text.
func authRefused(msg string) bool {
	for _, r := range []string{"authentication failed", "invalid signature", "invalid ticket", "no such authid",
		"missing authid", "public key not authorized", "anonymous access is only allowed"} {
		if strings.Contains(msg, r) {
			return true
		}
	}
	return false
}

// probeTLS tells a tcp:// client that its router speaks TLS: such a
// router waits for a TLS record that the RawSocket handshake never
// completes, so the dial only times out. When no session is up after a
// second, probeTLS tries a TLS handshake with the address and, if it
// succeeds, ends the wait with that cause. It returns when ctx ends.
func probeTLS(ctx context.Context, cfg wampx.Config, fail context.CancelCauseFunc) {
	if !strings.HasPrefix(cfg.URL, "tcp://") {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Second):
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} // only asks whether TLS is spoken
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(pctx, "tcp", u.Host)
	if err != nil {
		return
	}
	conn.Close()
	fail(fmt.Errorf("the router at %s expects TLS (it completed a TLS handshake); use %s, with --ca-file if its CA is not in the system's pool", cfg.URL, swapScheme(cfg.URL, true)))
}

// swapScheme returns url with its scheme changed to the TLS or the plain one.
func swapScheme(url string, toTLS bool) string {
	pairs := [][2]string{{"ws://", "wss://"}, {"tcp://", "tcps://"}}
	for _, p := range pairs {
		from, to := p[1], p[0]
		if toTLS {
			from, to = p[0], p[1]
		}
		if strings.HasPrefix(url, from) {
			return to + strings.TrimPrefix(url, from)
		}
	}
	return url
}

// explainCallError adds a hint to the errors of calls that no retry
// cures: a node nobody serves, a procedure this session may not call.
func explainCallError(err error, cfg wampx.Config, n protocol.Names) error {
	switch {
	case err == nil:
		return nil
	case protocol.IsKind(err, protocol.NoSuchNode):
		return fmt.Errorf("%w; realm %s, base URI %s: a sisock deployment needs --profile sisock on this command too", err, n.Realm, n.Base)
	case protocol.IsKind(err, protocol.NotAuthorized):
		return fmt.Errorf("%w; the router does not let this session's role do that (anonymous sessions are read-only consumers)", err)
	}
	return err
}

// retryQuiet returns a logger that writes a client's warnings about
// retrying at debug level: the command's own error says what went wrong.
func retryQuiet(l *slog.Logger) *slog.Logger {
	return slog.New(demote{l.Handler()})
}

type demote struct{ slog.Handler }

func (d demote) Enabled(ctx context.Context, lvl slog.Level) bool {
	return d.Handler.Enabled(ctx, demoted(lvl))
}

func (d demote) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demoted(r.Level)
	return d.Handler.Handle(ctx, r)
}

func demoted(l slog.Level) slog.Level {
	if l == slog.LevelWarn {
		return slog.LevelDebug
	}
	return l
}

func (d demote) WithAttrs(as []slog.Attr) slog.Handler { return demote{d.Handler.WithAttrs(as)} }
func (d demote) WithGroup(g string) slog.Handler       { return demote{d.Handler.WithGroup(g)} }
