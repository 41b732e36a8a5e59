package sqlite

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store/storetest"
	"github.com/telemesh/telemesh/protocol"
)

// TestPropertySeeds runs the conformance suite's randomized comparison on
// more histories.
func TestPropertySeeds(t *testing.T) {
	seeds := 4
	if testing.Short() {
		seeds = 2
	}
	for seed := range uint64(seeds) {
		s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{})
		r := rand.New(rand.NewPCG(seed, 99))
		h := storetest.RandomHistory(r)
		h.Apply(t, s)
		storetest.CheckRandomQueries(t, s, r, h.Final, h.Start-int64(time.Hour), h.End+int64(time.Hour), 80)
		s.Close()
	}
}

// TestPropertyRetention prunes a random history at random horizons per
// tier: queries over what every source still covers equal the definition
// applied to the readings after the raw horizon.
func TestPropertyRetention(t *testing.T) {
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 7))
		h := storetest.RandomHistory(r)
		now := time.Unix(0, h.End)
		ret := Retention{Raw: time.Duration(r.Int64N(int64(60 * time.Hour)))}
		d := []*time.Duration{&ret.TenSeconds, &ret.Minute, &ret.TenMinutes, &ret.Hour, &ret.Day}
		for _, p := range d {
			*p = time.Duration(r.Int64N(int64(70 * time.Hour)))
		}
		s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{Retention: ret, Now: func() time.Time { return time.Unix(0, h.Start) }})
		h.Apply(t, s)
		if err := s.Prune(context.Background(), now); err != nil {
			t.Fatal(err)
		}
		// The flusher's own prune at start may still write the horizons.
		s.mu.Lock()
		horizons := slices.Clone(s.horizons)
		s.mu.Unlock()
		from := int64(math.MinInt64)
		for _, hz := range horizons {
			from = max(from, hz)
		}
		keep := map[string][]protocol.Reading{}
		for f, rs := range h.Final {
			for _, x := range rs {
				if x.Time >= horizons[0] {
					keep[f] = append(keep[f], x)
				}
			}
		}
		if from < h.End {
			storetest.CheckRandomQueries(t, s, r, keep, from, h.End+int64(time.Hour), 60)
		}
		s.Close()
	}
}
