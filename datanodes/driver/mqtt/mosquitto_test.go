package mqtt

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// broker is a Debian mosquitto on a loopback port, for tests.
type broker struct {
	t    testing.TB
	bin  string
	conf string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startBroker starts mosquitto on a free loopback port; it stops when the
// test ends.
func startBroker(t testing.TB) *broker {
	t.Helper()
	b := &broker{t: t, bin: testutil.Need(t, "mosquitto"), port: testutil.FreePort(t)}
	b.conf = filepath.Join(t.TempDir(), "mosquitto.conf")
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nlog_type error\n", b.port)
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

func (b *broker) start() {
	b.t.Helper()
	b.cmd = exec.Command(b.bin, "-c", b.conf)
	b.cmd.Stdout, b.cmd.Stderr = os.Stderr, os.Stderr
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(b.cmd, b.done)
	// Wait for the port rather than sleeping.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-b.done:
			b.t.Fatalf("mosquitto exited: %v", b.cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto did not listen on %d: %v", b.port, err)
		}
	}
}

func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Kill()
	<-b.done
	b.cmd = nil
}
