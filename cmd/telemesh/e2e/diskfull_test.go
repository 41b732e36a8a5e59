package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// Disk-full tests: a node whose data directory is a small tmpfs that the
// test fills up. They need to mount (root, as here and in CI) and skip
// with a message where that is not permitted.

const (
	fullInterval = 10 * time.Millisecond // 100 Hz
	fullFields   = 10
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		testutil.SkipMissing(t, "cannot mount a tmpfs here (%v: %s): the disk-full tests need root and mount permission", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 16, 512, 1} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	return path
}

// fullNode writes a node file: fullFields sim fields at fullInterval,
// the database in dataDir, spillDir ("" for the default) and the health
// endpoint on a free port, whose address it returns with the file.
func (s *stack) fullNode(name, dataDir, spillDir, backfill string, maxBuffered int) (string, string) {
	s.t.Helper()
	health := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(s.t))
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ndata_dir: %s\nstop_timeout: 5s\nhealth: {listen: %q}\nstore:\n  flush_interval: 1s\n", name, dataDir, health)
	if spillDir != "" {
		fmt.Fprintf(&b, "  spill_dir: %s\n", spillDir)
	}
	if maxBuffered > 0 {
		fmt.Fprintf(&b, "  max_buffered: %d\n", maxBuffered)
	}
	fmt.Fprintf(&b, "drivers:\n  - type: sim\n    interval: %s\n    backfill: %q\n    fields:\n", fullInterval, backfill)
	for i := range fullFields {
		fmt.Fprintf(&b, "      - {name: f%d, base: %d, noise: 1}\n", i, 10*i)
	}
	path := filepath.Join(s.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return path, health
}

func (s *stack) startNode(name, cfg string) *proc {
	return start(s.t, "node "+name, "node", "--config", cfg, "--url", s.url, "--profile", s.profile)
}

// nodeMetrics is a node's /metrics at addr (host:port), nil when it does
// not answer.
func nodeMetrics(addr string) map[string]float64 {
	m, _ := metrics("http://" + addr + "/metrics")
	return m
}

// rssMB is the resident memory of a process.
func rssMB(pid int) float64 { return float64(rssKB(pid)) / 1024 }

func fieldNames() []string {
	var fs []string
	for i := range fullFields {
		fs = append(fs, fmt.Sprintf("f%d", i))
	}
	return fs
}

// stored returns, per field, the times (ns) the node holds in [from, to),
// read in windows small enough for one reply.
func stored(t *testing.T, cl *consumers.Client, node string, from, to time.Time) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	for a := from; a.Before(to); a = a.Add(2 * time.Second) {
		b := a.Add(2 * time.Second)
		if b.After(to) {
			b = to
		}
		var res *protocol.DataResult
		var err error
		for try := 0; try < 50; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err = cl.GetData(ctx, node, consumers.Query{Fields: fieldNames(), Start: protocol.FromTime(a), End: protocol.FromTime(b)})
			cancel()
			if err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("get_data [%s, %s): %v", a.Format(time.RFC3339Nano), b.Format(time.RFC3339Nano), err)
		}
		ts := res.Timeline["sim"].T
		for _, f := range fieldNames() {
			if res.Data[f].Len() != len(ts) {
				t.Fatalf("field %s: %d values for %d times", f, res.Data[f].Len(), len(ts))
			}
			for _, x := range ts {
				out[f] = append(out[f], grid(x))
			}
		}
	}
	return out
}

// grid rounds a time in seconds to the sim driver's grid, in ns.
func grid(sec float64) int64 {
	return int64(math.Round(sec*1e9/float64(fullInterval))) * int64(fullInterval)
}

// missing counts the grid times in [from, to] absent from ts (ascending).
func missing(ts []int64, from, to int64) (n int, first int64) {
	have := map[int64]bool{}
	for _, x := range ts {
		have[x] = true
	}
	iv := int64(fullInterval)
	for x := (from + iv - 1) / iv * iv; x <= to; x += iv {
		if !have[x] {
			if n == 0 {
				first = x
			}
			n++
		}
	}
	return n, first
}

// TestDiskFull fills a node's tmpfs: while full, get_data never answers
// without readings it holds (0 empty successes), old data stays readable,
// the write buffer stays within max_buffered (the rest goes to a spill
// directory on another file system); once space returns nothing is
// missing. Then the disk fills again and the node is stopped: what it
// could not write is kept in the spill directory and written at the next
// start, and again nothing is missing.
func TestDiskFull(t *testing.T) {
	data := mountTmpfs(t, "24m")
	spill := t.TempDir()
	s := newStack(t, "telemesh")
	s.router()
	s.hub()
	const maxBuffered = 3000
	cfg, health := s.fullNode("full", data, spill, "2m", maxBuffered)
	started := time.Now()
	node := s.startNode("full", cfg)
	cl := s.client()
	waitNodes(t, cl, "full")
	oldFrom, oldTo := started.Add(-100*time.Second), started.Add(-90*time.Second)
	var oldWant map[string][]int64
	testutil.Eventually(t, 60*time.Second, "the backfill stored", func() bool {
		oldWant = stored(t, cl, "full", oldFrom, oldTo)
		n, _ := missing(oldWant["f0"], oldFrom.UnixNano(), oldTo.UnixNano()-1)
		return n == 0
	})
	rssBefore := rssMB(node.cmd.Process.Pid)

	// Fill the disk, wait for the store to notice, then query for a while.
	filler := fill(t, data)
	filled := time.Now()
	testutil.Eventually(t, 60*time.Second, "the store to report it cannot write", func() bool {
		return nodeMetrics(health)["telemesh_node_store_writable"] == 0
	})
	t.Logf("the store failed %v after the disk filled", time.Since(filled).Round(time.Millisecond))
	var calls, failed, empty, oldOK int
	var maxBuf, maxRSS float64
	cpu0, wall0 := cpuSeconds(node.cmd.Process.Pid), time.Now()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := cl.GetData(ctx, "full", consumers.Query{Fields: fieldNames(), Start: -3, End: 0})
		cancel()
		calls++
		switch {
		case err != nil:
			failed++
		case len(res.Timeline["sim"].T) == 0:
			empty++
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		res, err = cl.GetData(ctx, "full", consumers.Query{Fields: []string{"f0"}, Start: protocol.FromTime(oldFrom), End: protocol.FromTime(oldTo)})
		cancel()
		if err != nil {
			t.Errorf("old data while the disk is full: %v", err)
		} else if res.Data["f0"].Len() != len(oldWant["f0"]) {
			t.Errorf("old data while the disk is full: %d readings, want %d", res.Data["f0"].Len(), len(oldWant["f0"]))
		} else {
			oldOK++
		}
		m := nodeMetrics(health)
		maxBuf = max(maxBuf, m["telemesh_node_store_buffered"])
		maxRSS = max(maxRSS, rssMB(node.cmd.Process.Pid))
		time.Sleep(100 * time.Millisecond)
	}
	cpu := (cpuSeconds(node.cmd.Process.Pid) - cpu0) / time.Since(wall0).Seconds()
	m := nodeMetrics(health)
	t.Logf("disk full: %d get_data of the last 3 s: %d failed with an error, %d empty successes; %d of %d reads of old data answered in full; buffer at most %.0f readings (bound %d), %.0f spilled, %.0f dropped; RSS %.1f MB before, at most %.1f MB while full; node CPU %.0f%% of a core (queries included)",
		calls, failed, empty, oldOK, calls, maxBuf, maxBuffered, m["telemesh_node_store_spilled"], m["telemesh_node_store_dropped_total"], rssBefore, maxRSS, 100*cpu)
	if empty != 0 {
		t.Errorf("%d of %d get_data calls returned no readings and no error while the disk was full", empty, calls)
	}
	// The buffer may exceed the bound by the batch that triggered a spill.
	if maxBuf > maxBuffered+fullFields*200 {
		t.Errorf("write buffer reached %.0f readings, bound %d", maxBuf, maxBuffered)
	}
	if m["telemesh_node_store_spilled"] == 0 || m["telemesh_node_store_dropped_total"] != 0 {
		t.Errorf("spilled %v, dropped %v: want spilled readings and none dropped", m["telemesh_node_store_spilled"], m["telemesh_node_store_dropped_total"])
	}
	if maxRSS > rssBefore+50 {
		t.Errorf("RSS grew from %.1f to %.1f MB while the disk was full", rssBefore, maxRSS)
	}

	// Space returns: everything is written, nothing is missing.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	testutil.Eventually(t, 60*time.Second, "the store to write everything", func() bool {
		m := nodeMetrics(health)
		return m["telemesh_node_store_writable"] == 1 && m["telemesh_node_store_spilled"] == 0 && m["telemesh_node_store_buffered"] < 2000
	})
	t.Logf("everything written %v after space returned", time.Since(freed).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond) // past flush_interval: finalized
	from, to := filled.Add(-2*time.Second), freed.Add(time.Second)
	got := stored(t, cl, "full", from, to)
	for _, f := range fieldNames() {
		if n, first := missing(got[f], from.UnixNano(), to.UnixNano()-1); n != 0 {
			t.Errorf("field %s: %d readings missing after space returned, the first at %s", f, n, time.Unix(0, first).UTC().Format(time.RFC3339Nano))
		}
	}

	// Full again, then a stop: the buffer is kept in the spill directory.
	filler = fill(t, data)
	filled = time.Now()
	testutil.Eventually(t, 60*time.Second, "the store to fail again", func() bool {
		return nodeMetrics(health)["telemesh_node_store_writable"] == 0
	})
	time.Sleep(3 * time.Second)
	stopped := time.Now()
	node.stop()
	if took := time.Since(stopped); took > 8*time.Second {
		t.Errorf("the node took %v to stop with the disk full", took)
	}
	out := node.out.String()
	kept := regexp.MustCompile(`readings kept in a spill file.* readings=(\d+)`).FindStringSubmatch(out)
	if kept == nil {
		t.Fatalf("no spill at stop in the log:\n%s", tailLines(out, 30))
	}
	t.Logf("stop while full: %s readings kept in the spill directory", kept[1])
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	cfg, health = s.fullNode("full", data, spill, "0", maxBuffered)
	node = s.startNode("full", cfg)
	waitNodes(t, cl, "full")
	testutil.Eventually(t, 60*time.Second, "the spilled readings written after the restart", func() bool {
		m := nodeMetrics(health)
		return m != nil && m["telemesh_node_store_spilled"] == 0 && m["telemesh_node_store_writable"] == 1
	})
	if files, _ := filepath.Glob(filepath.Join(spill, "*.spill.*")); len(files) != 0 {
		t.Errorf("spill files left after the restart: %v", files)
	}
	time.Sleep(1500 * time.Millisecond)
	from, to = filled.Add(-2*time.Second), stopped.Add(-500*time.Millisecond)
	got = stored(t, cl, "full", from, to)
	for _, f := range fieldNames() {
		if n, first := missing(got[f], from.UnixNano(), to.UnixNano()-1); n != 0 {
			t.Errorf("field %s: %d readings from before the stop missing after the restart, the first at %s", f, n, time.Unix(0, first).UTC().Format(time.RFC3339Nano))
		}
	}
}

// TestDiskFullStopStatesLoss stops a node whose disk is full with no
// other place to spill to: it keeps the readings if the spill fits, or
// logs exactly which are lost, and after a restart exactly those are
// missing.
func TestDiskFullStopStatesLoss(t *testing.T) {
	data := mountTmpfs(t, "16m")
	s := newStack(t, "telemesh")
	s.router()
	cfg, health := s.fullNode("lossy", data, "", "0", 0)
	node := s.startNode("lossy", cfg)
	cl := s.client()
	testutil.Eventually(t, 30*time.Second, "the node's store writing", func() bool {
		m := nodeMetrics(health)
		return m != nil && m["telemesh_node_store_lag_seconds_max"] > 0
	})
	filler := fill(t, data)
	filled := time.Now()
	testutil.Eventually(t, 60*time.Second, "the store to report it cannot write", func() bool {
		return nodeMetrics(health)["telemesh_node_store_writable"] == 0
	})
	time.Sleep(3 * time.Second)
	stopped := time.Now()
	node.stop()
	out := node.out.String()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	lostLine := regexp.MustCompile(`readings lost.* lost=(\d+) fields="([^"]*)"`).FindStringSubmatch(out)
	kept := regexp.MustCompile(`readings kept in a spill file`).MatchString(out)
	if lostLine == nil && !kept {
		t.Fatalf("the log says neither what was kept nor what was lost:\n%s", tailLines(out, 30))
	}
	cfg, _ = s.fullNode("lossy", data, "", "0", 0)
	s.startNode("lossy", cfg)
	time.Sleep(2500 * time.Millisecond) // spill files written, data finalized
	from, to := filled.Add(-2*time.Second), stopped.Add(-500*time.Millisecond)
	got := stored(t, cl, "lossy", from, to)
	if kept {
		t.Log("stop while full: the spill fitted on the full disk; checking nothing is missing")
		for _, f := range fieldNames() {
			if n, first := missing(got[f], from.UnixNano(), to.UnixNano()-1); n != 0 {
				t.Errorf("field %s: %d readings missing, the first at %s", f, n, time.Unix(0, first).UTC().Format(time.RFC3339Nano))
			}
		}
		return
	}
	total, _ := strconv.Atoi(lostLine[1])
	t.Logf("stop while full: the log states %d readings lost", total)
	// Each field's loss as logged is exactly the run of readings missing
	// after its last stored one.
	re := regexp.MustCompile(`(f\d+): (\d+) from (\S+) to (\S+?)(?:;|$)`)
	sum := 0
	for _, m := range re.FindAllStringSubmatch(lostLine[2], -1) {
		f := m[1]
		n, _ := strconv.Atoi(m[2])
		lo, err1 := time.Parse(time.RFC3339Nano, m[3])
		hi, err2 := time.Parse(time.RFC3339Nano, m[4])
		if err1 != nil || err2 != nil {
			t.Fatalf("bad loss entry %q", m[0])
		}
		sum += n
		if want := int(hi.Sub(lo)/fullInterval) + 1; n != want {
			t.Errorf("field %s: log says %d readings from %s to %s, which spans %d", f, n, m[3], m[4], want)
		}
		ts := got[f]
		if len(ts) == 0 || ts[len(ts)-1] >= lo.UnixNano() {
			t.Errorf("field %s: readings stored at or after the first one logged lost (%s)", f, m[3])
			continue
		}
		// From the node's first reading (it started just before the fill).
		if gap, _ := missing(ts, ts[0], lo.UnixNano()-1); gap != 0 {
			t.Errorf("field %s: %d readings missing before those logged lost", f, gap)
		}
		if next := ts[len(ts)-1] + int64(fullInterval); next != lo.UnixNano() {
			t.Errorf("field %s: last stored reading at %s, first logged lost at %s: the log does not name all that is missing", f, time.Unix(0, ts[len(ts)-1]).UTC().Format(time.RFC3339Nano), m[3])
		}
	}
	if sum != total {
		t.Errorf("fields' losses add up to %d, the log says %d", sum, total)
	}
}
