package web_test

import (
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestDataJS runs the dashboard's pure helpers' unit tests under node's
// test runner; the timeline join shares its cases with package protocol.
func TestDataJS(t *testing.T) {
	nodeBin := testutil.Need(t, "node")
	testutil.Run(t, time.Minute, nodeBin, "--test", "src/data.test.mjs")
}
