package exec

import (
	"context"
	"strings"
	"testing"

	"github.com/telemesh/telemesh/datanodes/driver/drivertest"
	"github.com/telemesh/telemesh/protocol"
)

func TestSample(t *testing.T) {
	drivertest.CheckSample(t, "exec")
}

func TestConfigErrors(t *testing.T) {
	drivertest.CheckInvalid(t, "exec", []string{"command: []", "command: [x]\ninterval: -1s", "command: [x]\nformat: xml", "command: [x]\nextra: 1"})
}

func once(t *testing.T, block string) *drivertest.Recorder {
	t.Helper()
	d := drivertest.MustDecode(t, "exec", block).(*Driver)
	r := drivertest.NewRecorder()
	d.Once(context.Background(), r)
	return r
}

func TestOutputs(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         map[string]any
		errs         int
	}{
		{"lines", `printf 'temp=48.3\n# comment\nok=true\nmode=idle\nbroken line\n'`,
			map[string]any{"temp": 48.3, "ok": true, "mode": "idle"}, 1},
		{"json", `echo '{"a": 1.5, "b": {"c": 2, "d": false}, "e": null, "f": [1]}'`,
			map[string]any{"a": 1.5, "b.c": 2.0, "b.d": false}, 1},
		{"bad json", `echo '{"a": '`, map[string]any{}, 1},
		{"exit", `echo x=1; echo broken >&2; exit 3`, map[string]any{}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := once(t, "command: [sh, -c, "+quote(tc.script)+"]\nprefix: p.\nfields: {temp: {units: C}}\n")
			got := map[string]any{}
			for _, rd := range r.Readings() {
				got[strings.TrimPrefix(rd.Field, "p.")] = rd.Value
			}
			if len(got) != len(tc.want) {
				t.Fatalf("readings = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if n := len(r.Errors()); n != tc.errs {
				t.Errorf("errors = %v, want %d", r.Errors(), tc.errs)
			}
			if tc.name == "lines" {
				f := r.Fields()
				if f["p.temp"].Units != "C" || f["p.ok"].Type != protocol.TypeBool || f["p.mode"].Type != protocol.TypeString {
					t.Errorf("fields = %+v", f)
				}
			}
			if tc.name == "exit" && !strings.Contains(r.Errors()[0].Error(), "broken") {
				t.Errorf("error lacks stderr: %v", r.Errors()[0])
			}
		})
	}
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestTimeoutAndRetry(t *testing.T) {
	d := drivertest.MustDecode(t, "exec", "command: [sh, -c, 'exec sleep 5']\ninterval: 50ms\ntimeout: 100ms\n").(*Driver)
	r := drivertest.NewRecorder()
	drivertest.Start(t, d, r)
	errs := r.WaitErrors(t, 2) // reported, then retried
	if !strings.Contains(errs[0].Error(), "timed out") {
		t.Fatalf("error = %v", errs[0])
	}
}

func TestTypeChange(t *testing.T) {
	d := drivertest.MustDecode(t, "exec", "command: [sh, -c, 'echo v=1']").(*Driver)
	r := drivertest.NewRecorder()
	d.Once(context.Background(), r)
	d.Command = []string{"sh", "-c", "echo v=abc"}
	d.Once(context.Background(), r)
	if len(r.Readings()) != 1 || len(r.Errors()) != 1 {
		t.Fatalf("readings %v errors %v", r.Readings(), r.Errors())
	}
}
