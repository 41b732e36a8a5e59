package router

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/stdlog"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemesh/telemesh/wampx"
)

// metrics are the router's Prometheus collectors, in their own registry.
type metrics struct {
	reg          *prometheus.Registry
	sessions     *prometheus.GaugeVec
	joins        *prometheus.CounterVec
	calls        *prometheus.CounterVec
	publications *prometheus.CounterVec
	subscribes   *prometheus.CounterVec
	registers    *prometheus.CounterVec
	errors       *prometheus.CounterVec
	denied       *prometheus.CounterVec
	dropped      prometheus.Counter
	droppedPeers *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "telemesh_router_sessions", Help: "Open WAMP sessions.",
		}, []string{"realm", "role"}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemesh_router_session_joins_total", Help: "WAMP sessions joined.",
		}, []string{"realm", "role"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemesh_router_calls_total", Help: "Authorized CALL messages.",
		}, []string{"realm", "role"}),
		publications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemesh_router_publications_total", Help: "Authorized PUBLISH messages.",
		}, []string{"realm", "role"}),
		subscribes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemesh_router_subscribes_total", Help: "Authorized SUBSCRIBE messages.",
		}, []string{"realm", "role"}),
		registers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemesh_router_registers_total", Help: "Authorized REGISTER messages.",
		}, []string{"realm", "role"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemesh_router_call_errors_total", Help: "ERROR replies sent by callees.",
		}, []string{"realm", "role"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemesh_router_authorization_denied_total", Help: "Messages refused with wamp.error.not_authorized.",
		}, []string{"realm", "role", "action"}),
		droppedPeers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemesh_router_dropped_peers_total", Help: "Network sessions the router closed, by reason.",
		}, []string{"reason"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "telemesh_router_dropped_messages_total", Help: "Messages nexus dropped because a session's queue was full.",
		}),
	}
	m.reg.MustRegister(m.sessions, m.joins, m.calls, m.publications, m.subscribes, m.registers,
		m.errors, m.denied, m.dropped, m.droppedPeers,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// decision returns the Authorizer hook counting actions of one realm.
func (m *metrics) decision(realm string) func(role, action string, allowed bool) {
	return func(role, action string, allowed bool) {
		if !allowed {
			m.denied.WithLabelValues(realm, role, action).Inc()
			return
		}
		switch action {
		case ActionCall:
			m.calls.WithLabelValues(realm, role).Inc()
		case ActionPublish:
			m.publications.WithLabelValues(realm, role).Inc()
		case ActionSubscribe:
			m.subscribes.WithLabelValues(realm, role).Inc()
		case ActionRegister:
			m.registers.WithLabelValues(realm, role).Inc()
		}
	}
}

// countingAuthorizer counts callee errors besides authorizing.
type countingAuthorizer struct {
	*Authorizer
	realm string
	m     *metrics
}

func (c countingAuthorizer) Authorize(sess *wamp.Session, msg wamp.Message) (bool, error) {
	if _, ok := msg.(*wamp.Error); ok {
		role, _ := wamp.AsString(sess.Details["authrole"])
		c.m.errors.WithLabelValues(c.realm, role).Inc()
	}
	return c.Authorizer.Authorize(sess, msg)
}

// watchSessions keeps the sessions gauge of a realm from the meta events
// received by the in-process session c.
func (m *metrics) watchSessions(c *client.Client, realm string) error {
	var mu sync.Mutex
	roles := map[wamp.ID]string{}
	h := func(ev *wamp.Event) {
		mu.Lock()
		defer mu.Unlock()
		m.sessionEvent(roles, realm, ev)
	}
	if err := c.Subscribe(string(wamp.MetaEventSessionOnJoin), h, nil); err != nil {
		return fmt.Errorf("subscribing to session joins: %w", err)
	}
	if err := c.Subscribe(string(wamp.MetaEventSessionOnLeave), h, nil); err != nil {
		return fmt.Errorf("subscribing to session leaves: %w", err)
	}
	return nil
}

func (m *metrics) sessionEvent(roles map[wamp.ID]string, realm string, ev *wamp.Event) {
	if len(ev.Arguments) == 0 {
		return
	}
	if d, ok := wamp.AsDict(ev.Arguments[0]); ok {
		id, _ := wamp.AsID(d["session"])
		role, _ := wamp.AsString(d["authrole"])
		roles[id] = role
		m.sessions.WithLabelValues(realm, role).Inc()
		m.joins.WithLabelValues(realm, role).Inc()
		return
	}
	id, _ := wamp.AsID(ev.Arguments[0])
	if role, ok := roles[id]; ok {
		delete(roles, id)
		m.sessions.WithLabelValues(realm, role).Dec()
	}
}

// countingLog counts nexus's queue-full drop lines before logging them.
type countingLog struct {
	stdlog.StdLog
	dropped prometheus.Counter
}

// droppedPeer counts a network session the router closed.
func (m *metrics) droppedPeer(reason string) { m.droppedPeers.WithLabelValues(reason).Inc() }

func newCountingLog(l *slog.Logger, dropped prometheus.Counter) countingLog {
	return countingLog{StdLog: wampx.StdLog(l), dropped: dropped}
}

func (c countingLog) count(s string) {
	if strings.Contains(s, "Dropped") || strings.Contains(s, "blocked") {
		c.dropped.Inc()
	}
}

func (c countingLog) Print(v ...any)   { c.count(fmt.Sprint(v...)); c.StdLog.Print(v...) }
func (c countingLog) Println(v ...any) { c.count(fmt.Sprintln(v...)); c.StdLog.Println(v...) }
func (c countingLog) Printf(format string, v ...any) {
	c.count(fmt.Sprintf(format, v...))
	c.StdLog.Printf(format, v...)
}
