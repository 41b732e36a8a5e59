package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Mosquitto is a Debian mosquitto MQTT broker on a loopback port, started
// by a test with a minimal configuration (anonymous, no persistence, no
// queue limit).
type Mosquitto struct {
	t    testing.TB
	bin  string
	conf string
	// Port is the broker's TCP port on 127.0.0.1.
	Port int
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMosquitto starts mosquitto on a free loopback port and waits until
// it listens; it stops when the test ends. It skips (or fails in CI) when
// mosquitto is not installed.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	// Debian installs mosquitto in /usr/sbin, which a non-root PATH lacks.
	bin := "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		bin = Need(t, "mosquitto")
	}
	m := &Mosquitto{t: t, bin: bin, Port: FreePort(t)}
	m.conf = filepath.Join(t.TempDir(), "mosquitto.conf")
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nlog_type error\n", m.Port)
	if err := os.WriteFile(m.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// URL is the broker's tcp:// URL.
func (m *Mosquitto) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.Port) }

// Start starts the broker again after Stop, on the same port.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = os.Stderr, os.Stderr
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(m.cmd, m.done)
	// Wait for the port rather than sleeping.
	addr := fmt.Sprintf("127.0.0.1:%d", m.Port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-m.done:
			m.t.Fatalf("mosquitto exited: %v", m.cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
	}
}

// Stop kills the broker, as a crash or power cut would.
func (m *Mosquitto) Stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}
