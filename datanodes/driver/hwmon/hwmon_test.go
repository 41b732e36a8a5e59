package hwmon

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver/drivertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestSample(t *testing.T) {
	d := drivertest.CheckSample(t, "hwmon").(*Driver)
	if d.Root != "/sys" || d.Interval != 10*time.Second {
		t.Fatalf("sample decoded to %+v", d)
	}
}

func TestConfigErrors(t *testing.T) {
	drivertest.CheckInvalid(t, "hwmon", []string{
		"interval: 0s",
		"root: ''",
		"bogus: 1",
		"interval: ten",
		"prefix: 'a b'",
	})
}

// render prints one reading round as the golden files hold it.
func render(r *drivertest.Recorder) string {
	var b strings.Builder
	fields := r.Fields()
	vals := map[string]any{}
	for _, rd := range r.Readings() {
		vals[rd.Field] = rd.Value
	}
	for _, name := range r.FieldNames() {
		f := fields[name]
		v, ok := vals[name]
		if !ok {
			v = "-"
		}
		fmt.Fprintf(&b, "%s\t%v\t%s\t%s\t%s\n", name, v, f.Units, f.Timeline, f.Description)
	}
	for _, err := range r.Errors() {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, tc := range []string{"desktop", "empty"} {
		t.Run(tc, func(t *testing.T) {
			d := MustNew(t, "root: testdata/"+tc+"\ninterval: 1s\n")
			r := drivertest.NewRecorder()
			d.declared, d.failing = map[string]bool{}, map[string]bool{}
			d.Read(r, time.Unix(1700000000, 0))
			got := render(r)
			golden := filepath.Join("testdata", tc+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			// A second round declares nothing new and repeats no error.
			n := len(r.Errors())
			d.Read(r, time.Unix(1700000001, 0))
			if len(r.Errors()) != n {
				t.Errorf("errors repeated: %v", r.Errors())
			}
		})
	}
}

func MustNew(t *testing.T, block string) *Driver {
	t.Helper()
	return drivertest.MustDecode(t, "hwmon", block).(*Driver)
}

func TestRunFollowsChanges(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "class", "hwmon", "hwmon0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("name", "k10temp")
	write("temp1_label", "Tctl")
	write("temp1_input", "51250")
	d := MustNew(t, "root: "+root+"\ninterval: 20ms\nchips: [k10temp]\nprefix: 'host1.'\n")
	r := drivertest.NewRecorder()
	drivertest.Start(t, d, r)
	rs := r.WaitField(t, "host1.k10temp.Tctl", 1)
	if rs[0].Value != 51.25 {
		t.Fatalf("first reading = %v", rs[0].Value)
	}
	// A sensor that breaks is reported once and skipped; one that appears
	// later is declared.
	write("temp1_input", "oops")
	r.WaitErrors(t, 1)
	write("temp1_input", "52000")
	write("temp2_input", "30000")
	r.WaitField(t, "host1.k10temp.temp2", 1)
	if len(r.Errors()) != 1 {
		t.Fatalf("errors = %v", r.Errors())
	}
	if f := r.Fields()["host1.k10temp.Tctl"]; f.Units != "C" || f.Interval != 20*time.Millisecond {
		t.Fatalf("field = %+v", f)
	}
}

func TestMissingRoot(t *testing.T) {
	d := MustNew(t, "root: "+filepath.Join(t.TempDir(), "nope")+"\ninterval: 10ms\n")
	r := drivertest.NewRecorder()
	drivertest.Start(t, d, r)
	r.WaitErrors(t, 1)
}
