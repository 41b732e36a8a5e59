// Package procstat reads the memory figures Linux gives for a process in
// /proc/<pid>/status: the resident set (VmRSS), its peak (VmHWM) and its
// parts (RssAnon, RssFile, RssShmem). Off Linux, and for a process that
// is gone, every figure is zero.
package procstat

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's memory, in bytes.
type Memory struct {
	RSS  int64 // resident set: VmRSS
	Peak int64 // the resident set's high-water mark: VmHWM
	Anon int64 // private memory resident: RssAnon
	File int64 // mapped file pages resident, the executable's among them: RssFile
	Shm  int64 // shared memory resident: RssShmem
}

// Read returns the memory of process pid; 0 means this process.
func Read(pid int) Memory {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return Memory{}
	}
	defer f.Close()
	var m Memory
	fields := map[string]*int64{"VmRSS": &m.RSS, "VmHWM": &m.Peak, "RssAnon": &m.Anon, "RssFile": &m.File, "RssShmem": &m.Shm}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		p := fields[name]
		if !ok || p == nil {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err == nil {
			*p = kb << 10
		}
	}
	return m
}

// MiB returns b bytes in MiB.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }
