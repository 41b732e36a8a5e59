package e2e

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the test reads the killed node's database

	"github.com/telemesh/telemesh/internal/testutil"
)

// killMargin is what TestKillLoss allows beyond the stated bound
// (flush_interval plus the longest commit the node reported): the
// scheduling delays of a loaded machine, which neither includes.
const killMargin = 500 * time.Millisecond

// TestKillLoss SIGKILLs a node taking 10 fields at 100 Hz, under CPU
// load, again and again: after each kill PRAGMA integrity_check is ok,
// and the readings lost (from the newest committed one to the kill) stay
// within flush_interval plus the longest flush commit the nodes reported
// on /metrics so far (each just before its kill), plus killMargin. TELEMESH_E2E_KILLS sets the
// number of kills (default 12); the distribution is logged.
func TestKillLoss(t *testing.T) {
	kills := 12
	if v, err := strconv.Atoi(os.Getenv("TELEMESH_E2E_KILLS")); err == nil && v > 0 {
		kills = v
	}
	s := newStack(t, "telemesh")
	s.router()
	data := filepath.Join(s.dir, "data")
	const flushInterval = time.Second

	// CPU load: a busy goroutine per core for the whole test.
	stop := make(chan struct{})
	var load sync.WaitGroup
	for range runtime.NumCPU() {
		load.Add(1)
		go func() {
			defer load.Done()
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range 100000 {
					x += i
				}
			}
		}()
	}
	defer func() { close(stop); load.Wait() }()

	var losses []time.Duration
	var flushMax time.Duration
	for i := range kills {
		cfg, health := s.fullNode("victim", data, "", "0", 0)
		node := s.startNode("victim", cfg)
		testutil.Eventually(t, 60*time.Second, "the node's first flush", func() bool {
			m := nodeMetrics(health)
			return m != nil && m["telemesh_node_store_lag_seconds_max"] > 0
		})
		// Kill at a random phase of the flush cycle.
		time.Sleep(time.Duration(500+rand.IntN(2000)) * time.Millisecond)
		m := nodeMetrics(health)
		fm := time.Duration(m["telemesh_node_store_flush_seconds_max"] * float64(time.Second))
		flushMax = max(flushMax, fm)
		killed := time.Now()
		node.kill()

		db, err := sql.Open("sqlite3", filepath.Join(data, "victim.db"))
		if err != nil {
			t.Fatal(err)
		}
		var check string
		var last int64
		err = db.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&check)
		if err == nil {
			err = db.QueryRowContext(context.Background(), "SELECT last_ts FROM series WHERE name = 'f0'").Scan(&last)
		}
		db.Close()
		if err != nil {
			t.Fatalf("kill %d: reading the database: %v", i, err)
		}
		if check != "ok" {
			t.Fatalf("kill %d: integrity_check: %s", i, check)
		}
		loss := killed.Sub(time.Unix(0, last))
		losses = append(losses, loss)
		// The flush under way at the kill may be slower than any this run
		// saw: the commit time is the longest seen on this machine so far.
		if bound := flushInterval + flushMax + killMargin; loss > bound {
			t.Errorf("kill %d: lost %v of readings, bound %v (flush_interval %v + longest flush %v + margin %v)", i, loss.Round(time.Millisecond), bound, flushInterval, flushMax.Round(time.Millisecond), killMargin)
		}
	}
	slices.Sort(losses)
	q := func(p float64) time.Duration { return losses[int(p*float64(len(losses)-1))].Round(time.Millisecond) }
	t.Logf("%d kills under load: readings lost median %v, p90 %v, max %v; longest flush reported %v; integrity_check ok after every kill",
		len(losses), q(0.5), q(0.9), losses[len(losses)-1].Round(time.Millisecond), flushMax.Round(time.Millisecond))
}
