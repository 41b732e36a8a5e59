package bridge_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestSisockNode serves a sisock-style data node written in Python with
// autobahn, whose get_data knows neither max_points nor agg and returns
// every sample: the bridge still caps the points per series and keeps the
// spike with minmax.
func TestSisockNode(t *testing.T) {
	py := testutil.NeedPython(t)
	s := startStack(t)
	const start, span = 1_700_000_000, 7200
	spike := start + 3333
	cmd := exec.Command(py, filepath.Join("testdata", "sisock_node.py"), s.URL, s.Names.Realm, s.Names.Base, "pynode", fmt.Sprint(spike))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	added := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			added <- sc.Text()
		}
		close(added)
	}()
	select {
	case line := <-added:
		if !strings.HasSuffix(line, "added True") {
			t.Fatalf("node: %q; stderr: %s", line, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("node did not announce itself; stderr: %s", stderr.String())
	}
	s.WaitNodes(t, 1)
	url := bridgeURL(t, s)
	for _, c := range []struct {
		agg   string
		limit int
		spike bool
	}{{"mean", 100, false}, {"minmax", 200, true}, {"max", 100, true}} {
		body := fmt.Sprintf(`{"range":{"from":%q,"to":%q},"maxDataPoints":100,"targets":[{"target":"pynode::temp","refId":"A","payload":{"agg":%q}}]}`,
			rfc(start), rfc(start+span), c.agg)
		code, b := postJSON(t, url+"/query", body)
		var out []timeserie
		if code != 200 || json.Unmarshal(b, &out) != nil || len(out) != 1 {
			t.Fatalf("%s: %d %.300s", c.agg, code, b)
		}
		n := len(out[0].Datapoints)
		max := 0.0
		for _, dp := range out[0].Datapoints {
			max = maxf(max, dp[0])
		}
		if n < 50 || n > c.limit || (max == 99) != c.spike {
			t.Errorf("%s: %d points (limit %d), max %v", c.agg, n, c.limit, max)
		}
	}
}
