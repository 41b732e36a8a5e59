package consumers_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

func TestDialAndGetSeries(t *testing.T) {
	url := routertest.Start(t, names.Realm).WebSocketURL()
	startFakeNode(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl, err := consumers.Dial(ctx, consumers.Config{Router: wampx.Config{URL: url}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cl.GetSeries(ctx, "fake", consumers.Query{Fields: []string{"temp", "none"}, Start: 100, End: 106})
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.Series{
		{Field: "temp", Timeline: "t0", Times: []int64{100e9, 101e9, 102e9, 103e9, 104e9, 105e9}, Values: protocol.Numbers(100, 101, 102, 103, 104, 105)},
		{Field: "none"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetSeries = %+v, want %+v", got, want)
	}
}

func TestDialFails(t *testing.T) {
	url := "ws://127.0.0.1:" + strconv.Itoa(testutil.FreePort(t)) + "/ws"
	start := time.Now()
	_, err := consumers.Dial(context.Background(), consumers.Config{Router: wampx.Config{URL: url, Timeout: 300 * time.Millisecond}})
	if err == nil || !strings.Contains(err.Error(), url) {
		t.Fatalf("Dial to nothing = %v", err)
	}
	t.Logf("gave up after %v: %v", time.Since(start), err)
	if _, err := consumers.Dial(context.Background(), consumers.Config{}); err == nil {
		t.Error("Dial without a URL succeeded")
	}
}

// externalMain is a program in another module using the Go client: it
// compiles only if every type it needs is public.
const externalMain = `package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := consumers.Dial(ctx, consumers.Config{Router: wampx.Config{URL: os.Args[1]}, Names: protocol.DefaultNames()})
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	ss, err := cl.GetSeries(ctx, "fake", consumers.Query{Fields: []string{"temp"}, Start: 100, End: 106, Agg: protocol.AggMean})
	if err != nil {
		fmt.Println("get:", err)
		os.Exit(1)
	}
	var s protocol.Series = ss[0]
	fmt.Println(s.Field, s.Timeline, s.Len(), s.Values.Nums[s.Len()-1])
}
`

// TestExternalModule builds a program in a separate module against the
// client and runs it against a router.
func TestExternalModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goBin := testutil.Need(t, "go")
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	gomod := "module example.com/telemeshclient\n\ngo 1.26\n\nrequire github.com/telemesh/telemesh v0.0.0\n\nreplace github.com/telemesh/telemesh => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"go.mod": gomod, "go.sum": string(sum), "main.go": externalMain} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "client")
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOWORK", "off")
	out, err := testutil.RunErr(3*time.Minute, goBin, "-C", dir, "build", "-o", bin, ".")
	if err != nil {
		t.Fatalf("building the external client: %v\n%s", err, out)
	}
	url := routertest.Start(t, names.Realm).WebSocketURL()
	startFakeNode(t, url)
	got := testutil.Run(t, 30*time.Second, bin, url)
	if want := "temp t0 6 105\n"; got != want {
		t.Errorf("external client printed %q, want %q", got, want)
	}
}
