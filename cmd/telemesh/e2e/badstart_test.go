package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // to damage a node's database
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// TestBadStoreRefused starts `telemesh node` processes on bad databases
// and bad data directories (issue 13, must hold): each one exits at
// start with one line naming the file and the problem, and the hub never
// hears of it (no data_node_added, not in list_nodes), while a sound node
// started after them is listed.
func TestBadStoreRefused(t *testing.T) {
	s := newStack(t, "telemesh")
	s.router()
	s.hub()
	cl := s.client()

	// A real node's database with hours of history (some 90 pages), for
	// the damaged copies.
	seedDir := filepath.Join(s.dir, "seed")
	seedPath := filepath.Join(seedDir, "seed.db")
	seed := s.nodeWith("seed", nodeOpts{interval: time.Second, backfill: "6h", dataDir: seedDir, logLevel: "info"})
	testutil.Eventually(t, 60*time.Second, "the seed node's backfill", func() bool {
		return fileSize(seedPath)+fileSize(seedPath+"-wal") > 256<<10
	})
	waitNodes(t, cl, "seed")
	seed.stop()
	testutil.Eventually(t, 20*time.Second, "the seed node to leave the hub", func() bool {
		_, ok := nodes(cl)["seed"]
		return !ok
	})
	seedDB, err := os.ReadFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	added := map[string]int{}
	stopWatch := cl.WatchNodes(func(add bool, n protocol.NodeSummary) {
		if add {
			mu.Lock()
			added[n.Name]++
			mu.Unlock()
		}
	})
	defer stopWatch()

	// The processes of the permission cases run as nobody when the test
	// runs as root, who may write anything; they need to reach the
	// stack's files.
	asNobody := os.Geteuid() == 0
	if asNobody {
		for _, d := range []string{s.dir, filepath.Dir(s.dir)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	const nobody = 65534
	tests := []struct {
		name string
		// prep makes the data directory dir and what is in it; db is
		// <dir>/<name>.db.
		prep func(t *testing.T, dir, db string)
		// perms: the case needs file permissions to hold (run as nobody).
		perms bool
		// want is the problem the line names (one of them).
		want []string
	}{
		{"corrupt", func(t *testing.T, dir, db string) {
			writeFile(t, db, damagePages(seedDB), 0o644)
		}, false, []string{"database is corrupt", "not a sound SQLite database"}},
		{"newer", func(t *testing.T, dir, db string) {
			writeFile(t, db, seedDB, 0o644)
			newerSchema(t, db)
		}, false, []string{"schema version 7 is newer"}},
		{"readonly", func(t *testing.T, dir, db string) {
			writeFile(t, db, seedDB, 0o444)
			chownIf(t, asNobody, nobody, dir, db)
		}, true, []string{"database file is not writable"}},
		{"unwritable", func(t *testing.T, dir, db string) {
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
		}, true, []string{"data directory " + "%DIR%" + " is not writable"}},
		{"junk", func(t *testing.T, dir, db string) {
			writeFile(t, db, []byte(strings.Repeat("not a database\n", 4096)), 0o644)
		}, false, []string{"not a sound SQLite database"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(s.dir, "data-"+tc.name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(dir, tc.name+".db")
			chownIf(t, asNobody && tc.perms, nobody, dir)
			tc.prep(t, dir, db)
			_, args := s.nodeFile(tc.name, nodeOpts{interval: time.Second, dataDir: dir})
			cmd := exec.Command(bin, args...)
			if asNobody && tc.perms {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			}
			began := time.Now()
			out, err := testutil.RunCmd(cmd, 30*time.Second)
			took := time.Since(began)
			if err == nil || cmd.ProcessState == nil || cmd.ProcessState.ExitCode() <= 0 {
				t.Fatalf("the node did not refuse to start (%v after %v):\n%s", err, took, out)
			}
			// The refusal is the last line, and the only one.
			lines := strings.Split(strings.TrimSpace(out), "\n")
			line := lines[len(lines)-1]
			for _, l := range lines {
				if strings.HasPrefix(l, "telemesh: ") && l != line {
					t.Fatalf("want one refusal line, last; got:\n%s", out)
				}
			}
			if !strings.HasPrefix(line, "telemesh: ") {
				t.Fatalf("want one refusal line, last; got:\n%s", out)
			}
			named := false
			for _, w := range tc.want {
				named = named || strings.Contains(line, strings.ReplaceAll(w, "%DIR%", dir))
			}
			if !named || !strings.Contains(line, db) {
				t.Errorf("refusal %q: want the file %s and one of %q", line, db, tc.want)
			}
			if strings.Contains(out, `msg="node starting"`) || strings.Contains(out, `msg="session up"`) {
				t.Errorf("the node went on after the refusal:\n%s", out)
			}
			t.Logf("refused in %v: %s", took.Round(time.Millisecond), line)
		})
	}

	// A sound node started after them is announced and listed; by then
	// any announcement of the refused ones would have arrived before it.
	s.node("good", time.Second)
	listed := waitNodes(t, cl, "good")
	testutil.Eventually(t, 10*time.Second, "data_node_added for the sound node", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return added["good"] > 0
	})
	mu.Lock()
	defer mu.Unlock()
	for _, tc := range tests {
		if added[tc.name] > 0 {
			t.Errorf("%s: the hub published data_node_added %d times", tc.name, added[tc.name])
		}
		if _, ok := listed[tc.name]; ok {
			t.Errorf("%s: the hub lists the refused node", tc.name)
		}
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func writeFile(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chownIf(t *testing.T, do bool, uid int, paths ...string) {
	t.Helper()
	if !do {
		return
	}
	for _, p := range paths {
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
}

// damagePages returns a copy of a database file with bytes flipped
// through its interior pages, its header page left intact, as a failing
// disk would leave it.
func damagePages(b []byte) []byte {
	const page = 4096
	d := append([]byte(nil), b...)
	for i := page + 100; i < len(d)-page; i += 7 {
		d[i] ^= 0x5a
	}
	return d
}

// newerSchema makes db look written by a newer telemesh: user_version 7
// and a chunks table with an extra NOT NULL column (no default) that
// today's inserts would not fill.
func newerSchema(t *testing.T, db string) {
	t.Helper()
	h, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var create string
	if err := h.QueryRow("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'chunks'").Scan(&create); err != nil {
		t.Fatal(err)
	}
	var cols []string
	rows, err := h.Query("SELECT name FROM pragma_table_info('chunks')")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	i := strings.LastIndexByte(create, ')')
	newer := strings.Replace(create[:i], "chunks", "chunks_v7", 1) + ",\n\tsite TEXT NOT NULL)"
	list := strings.Join(cols, ", ")
	for _, q := range []string{
		newer,
		fmt.Sprintf("INSERT INTO chunks_v7 (%s, site) SELECT %s, 'lab' FROM chunks", list, list),
		"DROP TABLE chunks",
		"ALTER TABLE chunks_v7 RENAME TO chunks",
		"PRAGMA user_version = 7",
	} {
		if _, err := h.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
