package datanodes

import (
	"fmt"
	"io"
	"runtime/metrics"

	"github.com/telemesh/telemesh/internal/procstat"
)

// memoryReporter is a store that knows the C heap it holds (the SQLite
// store does); the node shows it in its metrics.
type memoryReporter interface {
	MemoryUsed() int64
}

// goHeld returns the memory the Go runtime holds from the OS: all it
// mapped less the free heap it returned.
func goHeld() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}

// writeMemoryMetrics writes the process's memory in Prometheus text form:
// the resident set and its parts, what the Go runtime holds, and the
// store's C heap, so a node's footprint can be watched and explained.
func (n *Node) writeMemoryMetrics(w io.Writer) {
	m := procstat.Read(0)
	if m.RSS > 0 {
		fmt.Fprintf(w, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", m.RSS)
		fmt.Fprintf(w, "# HELP telemesh_node_resident_memory_peak_bytes The resident size's high-water mark.\n# TYPE telemesh_node_resident_memory_peak_bytes gauge\ntelemesh_node_resident_memory_peak_bytes %d\n", m.Peak)
		fmt.Fprintf(w, "# HELP telemesh_node_resident_memory_bytes The resident size by kind: anonymous (private) memory, and mapped files (the executable) and shared memory.\n# TYPE telemesh_node_resident_memory_bytes gauge\n")
		fmt.Fprintf(w, "telemesh_node_resident_memory_bytes{kind=\"anon\"} %d\ntelemesh_node_resident_memory_bytes{kind=\"file\"} %d\ntelemesh_node_resident_memory_bytes{kind=\"shmem\"} %d\n", m.Anon, m.File, m.Shm)
	}
	fmt.Fprintf(w, "# HELP telemesh_node_go_memory_bytes Memory the Go runtime holds from the OS (heap, stacks, metadata).\n# TYPE telemesh_node_go_memory_bytes gauge\ntelemesh_node_go_memory_bytes %d\n", goHeld())
	if r, ok := n.st.(memoryReporter); ok {
		fmt.Fprintf(w, "# HELP telemesh_node_store_c_heap_bytes The store's C heap (SQLite's page caches and statements).\n# TYPE telemesh_node_store_c_heap_bytes gauge\ntelemesh_node_store_c_heap_bytes %d\n", r.MemoryUsed())
	}
}
