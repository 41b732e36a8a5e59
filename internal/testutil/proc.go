package testutil

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Serve runs run in the background until the test ends, then cancels its
// context and reports an error it returns. With a non-nil ready it waits
// for ready to close, failing the test when run returns first or ten
// seconds pass.
func Serve(t testing.TB, run func(context.Context) error, ready <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if ready == nil {
		return
	}
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after 10s")
	}
}

// RunCmd runs a prepared command, killing it after timeout, and returns
// its combined output and error. Unlike RunErr it keeps what the caller
// set on cmd, such as its environment.
func RunCmd(cmd *exec.Cmd, timeout time.Duration) (string, error) {
	var buf SyncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	return buf.String(), err
}

// Proc is a program a test runs in the background, reading its output
// line by line. The test scripts that serve until told to stop exit when
// their standard input closes.
type Proc struct {
	name   string
	stdin  io.WriteCloser
	lines  chan string
	stderr SyncBuffer
}

// StartProc starts cmd with its standard input open and its standard
// output readable with Line. When the test ends its standard input is
// closed and the program killed.
func StartProc(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{name: cmd.Path, lines: make(chan string, 16)}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	return p
}

// Line returns the next line the program prints, failing the test when the
// program ends its output or timeout passes first.
func (p *Proc) Line(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("%s exited; stderr:\n%s", p.name, p.Stderr())
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("%s printed nothing within %v; stderr:\n%s", p.name, timeout, p.Stderr())
	}
	return ""
}

// Stderr returns what the program has written to its standard error.
func (p *Proc) Stderr() string { return p.stderr.String() }

// CloseStdin closes the program's standard input.
func (p *Proc) CloseStdin() error { return p.stdin.Close() }

// SyncBuffer is a bytes.Buffer that a program or goroutine may write
// while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what has been written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Eventually polls cond until it holds, failing the test with what after
// timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SisockNode starts testdata/sisock_node.py, a data node written the way
// sisock's DataNodeServer is (autobahn-python), and waits until it has
// announced itself to the hub. args are the script's options
// (--description D, --spike S). The node stops when the test ends.
func SisockNode(t testing.TB, url, realm, base, name string, args ...string) *Proc {
	t.Helper()
	py := NeedPython(t)
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "testdata", "sisock_node.py")
	p := StartProc(t, exec.Command(py, append([]string{script, url, realm, base, name}, args...)...))
	if l := p.Line(t, 30*time.Second); !strings.HasSuffix(l, "added True") {
		t.Fatalf("sisock node printed %q; stderr:\n%s", l, p.Stderr())
	}
	return p
}
