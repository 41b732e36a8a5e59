package cli

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/telemesh/telemesh/internal/memrelease"
	ucli "github.com/urfave/cli/v2"
)

// The Go runtime's memory settings of the long-running commands (node, up,
// bench). The defaults keep a node's resident memory small: the soft limit
// makes the garbage collector work harder and return freed memory to the
// OS as the process nears it, well above what a node needs while it
// serves raw days, so it never thrashes; GOGC stays Go's default, trading
// no query latency for memory below the limit.
const (
	defaultMemoryLimit = "64MiB"
	defaultGOGC        = 100
)

// memoryFlags are the flags of the memory settings.
func memoryFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "memory-limit", Value: defaultMemoryLimit, EnvVars: []string{EnvPrefix + "MEMORY_LIMIT"},
			Usage: "soft limit of the process's Go memory, written as GOMEMLIMIT (e.g. 64MiB, 1GiB; off for none): near it the garbage collector runs more often and returns freed memory to the OS; GOMEMLIMIT in the environment wins"},
		&ucli.IntFlag{Name: "gogc", Value: defaultGOGC, EnvVars: []string{EnvPrefix + "GOGC"},
			Usage: "garbage collection target, as GOGC: the heap grows by this percentage of what is live between collections (lower trades CPU for memory; -1 turns collection off below the memory limit); GOGC in the environment wins"},
		&ucli.BoolFlag{Name: "memory-release", Value: true, EnvVars: []string{EnvPrefix + "MEMORY_RELEASE"},
			Usage: "return the memory a burst of work (a large answer, a backfill) freed to the OS once the process has been quiet for 2s, rather than when the runtime gets to it (minutes later)"},
	}
}

// applyMemory sets the runtime's memory limit and GC target from the
// flags, each unless the environment set it (the runtime read GOMEMLIMIT
// and GOGC at start), and starts returning memory after bursts
// (--memory-release) until the returned stop is called.
func applyMemory(c *ucli.Context, log *slog.Logger) (stop func(), err error) {
	n, err := parseMemoryLimit(c.String("memory-limit"))
	if err != nil {
		return nil, fmt.Errorf("--memory-limit: %w", err)
	}
	g := c.Int("gogc")
	if g < -1 {
		return nil, fmt.Errorf("--gogc %d: want -1 (off) or a percentage", g)
	}
	limit, gogc := "GOMEMLIMIT="+os.Getenv("GOMEMLIMIT"), "GOGC="+os.Getenv("GOGC")
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(n)
		limit = c.String("memory-limit")
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(g)
		gogc = strconv.Itoa(g)
	}
	release := c.Bool("memory-release")
	log.Info("memory settings", "memory_limit", limit, "gogc", gogc, "memory_release", release)
	if !release {
		return func() {}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&memrelease.Releaser{}).Run(ctx)
	}()
	return func() { cancel(); <-done }, nil
}

// parseMemoryLimit parses a size as GOMEMLIMIT writes it: an integer
// number of bytes with an optional unit B, KiB, MiB, GiB or TiB; off (or
// 0) is no limit.
func parseMemoryLimit(in string) (int64, error) {
	s := strings.TrimSpace(in)
	if s == "off" || s == "0" || s == "" {
		return math.MaxInt64, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size (want e.g. 64MiB, 1GiB, or off)", in)
	}
	return n * mult, nil
}
