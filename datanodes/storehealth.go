package datanodes

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
)

// writeReporter is a store that reports the state of its write path (the
// SQLite store does); the node shows it in its health and metrics.
type writeReporter interface {
	WriteStats() store.WriteStats
}

// writeStats returns the store's write path state, if it reports one.
func (n *Node) writeStats() (store.WriteStats, bool) {
	if r, ok := n.st.(writeReporter); ok {
		return r.WriteStats(), true
	}
	return store.WriteStats{}, false
}

// migrationReporter is a store that converts a database of an older
// release in the background while it serves (the SQLite store does); the
// node shows the migration in its health and metrics.
type migrationReporter interface {
	Migration() store.Migration
}

// storeMigration returns the store's migration, if it reports one.
func (n *Node) storeMigration() (store.Migration, bool) {
	if r, ok := n.st.(migrationReporter); ok {
		return r.Migration(), true
	}
	return store.Migration{}, false
}

// migrationProblem describes a store migration whose last attempt at a
// field failed ("" when none): its old rows stay until a retry succeeds,
// and the field's data is unavailable meanwhile.
func migrationProblem(m store.Migration) string {
	if !m.Active || m.Problem == "" {
		return ""
	}
	return fmt.Sprintf("%s, retrying: %s", m, m.Problem)
}

// storeProblem describes a store that cannot write ("" when it can).
func (n *Node) storeProblem() string {
	ws, ok := n.writeStats()
	if !ok || ws.Problem == "" {
		return ""
	}
	return fmt.Sprintf("store cannot write since %s (%s): %d readings buffered (bound %d), %d spilled, %d dropped",
		ws.FailingSince.UTC().Format(time.RFC3339), ws.Problem, ws.Buffered, ws.MaxBuffered, ws.Spilled, ws.Dropped)
}

// writeStoreMetrics writes the store's write path state in Prometheus
// text form.
func writeStoreMetrics(w io.Writer, ws store.WriteStats) {
	b2i := map[bool]int{false: 0, true: 1}
	writeGauges(w, []storeMetric{
		{"writable", "gauge", "Zero while the store's flushes fail (a full disk).", b2i[ws.Problem == ""]},
		{"buffered", "gauge", "Readings in memory not written yet.", ws.Buffered},
		{"max_buffered", "gauge", "Readings the store holds in memory before spilling.", ws.MaxBuffered},
		{"spilled", "gauge", "Readings in spill files not written yet.", ws.Spilled},
		{"spilled_total", "counter", "Readings moved to spill files.", ws.SpilledTotal},
		{"dropped_total", "counter", "Readings dropped: buffer full and spilling failed.", ws.Dropped},
		{"flush_failures_total", "counter", "Flushes that failed.", ws.FlushFailures},
		{"flush_seconds_max", "gauge", "Longest successful flush (encoding and commit).", ws.FlushMax.Seconds()},
		{"lag_seconds_max", "gauge", "Longest a reading waited from the driver to its commit: about what a crash loses.", ws.LagMax.Seconds()},
	})
}

// writeMigrationMetrics writes the store's migration state in Prometheus
// text form.
func writeMigrationMetrics(w io.Writer, m store.Migration) {
	b2i := map[bool]int{false: 0, true: 1}
	writeGauges(w, []storeMetric{
		{"migrating", "gauge", "One while the store converts a database of an older release in the background.", b2i[m.Active]},
		{"migration_progress", "gauge", "Part of the store's migration done, 0 to 1 (1 when none is under way).", m.Progress()},
		{"migration_failing", "gauge", "One while the migration's last attempt at a field failed (retried).", b2i[m.Active && m.Problem != ""]},
	})
}

// storeMetric is one metric of the store's state.
type storeMetric struct {
	name, typ, help string
	v               any
}

// writeGauges writes metrics named telemesh_node_store_<name>.
func writeGauges(w io.Writer, ms []storeMetric) {
	for _, m := range ms {
		fmt.Fprintf(w, "# HELP telemesh_node_store_%s %s\n# TYPE telemesh_node_store_%s %s\ntelemesh_node_store_%s %v\n", m.name, m.help, m.name, m.typ, m.name, m.v)
	}
}

// storeErrors paces the log of readings the store refuses because it
// cannot write (each refusal is counted; the store logs its own state).
type storeErrors struct {
	last    atomic.Int64 // ns of the last log line
	pending atomic.Int64 // refusals since
}

// storeRefused reports a batch the store refused while it cannot write,
// logging at most every 10 s; it returns false for other errors.
func (n *Node) storeRefused(s *sink, err error) bool {
	if !protocol.IsKind(err, protocol.Unavailable) {
		return false
	}
	n.sinkErrors.Add(1)
	k := n.storeErrs.pending.Add(1)
	now := time.Now().UnixNano()
	if last := n.storeErrs.last.Load(); now-last >= int64(10*time.Second) && n.storeErrs.last.CompareAndSwap(last, now) {
		n.storeErrs.pending.Add(-k)
		n.log.Error("store refused readings", "driver", s.name, "batches", k, "err", err)
	}
	return true
}
