package procstat

import (
	"os"
	"runtime"
	"testing"
)

func TestReadSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	for _, pid := range []int{0, os.Getpid()} {
		m := Read(pid)
		if m.RSS <= 0 || m.Peak < m.RSS || m.Anon <= 0 || m.Anon+m.File+m.Shm != m.RSS {
			t.Errorf("Read(%d) = %+v: want a positive RSS made of its parts, peak at least RSS", pid, m)
		}
	}
}

func TestReadGone(t *testing.T) {
	if m := Read(1 << 30); m != (Memory{}) {
		t.Errorf("Read of a process that does not exist = %+v, want zeros", m)
	}
}
