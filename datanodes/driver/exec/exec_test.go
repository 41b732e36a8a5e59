package exec

import (
	"context"
	"strings"
	"testing"
	"time"

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

// TestTimeKey: a time key in the output, in s, ms or µs, stamps the run's
// readings (the unit detected or forced); one past 2262 is reported with
// the key and the raw value, and the readings take the finish time.
func TestTimeKey(t *testing.T) {
	const at = int64(1_795_461_300_123_000_000) // 2026-11-23T19:15:00.123Z
	for _, tc := range []struct {
		name, block, out string
		want             int64 // 0: the finish time
		err              string
	}{
		{"lines s", "", `t=1795461300.123\nv=1`, at, ""},
		{"lines ms", "", `t=1795461300123\nv=1`, at, ""},
		{"json us", "", `{"t": 1795461300123000, "v": 1}`, at, ""},
		{"json ns string", "", `{"t": "1795461300123000000", "v": 1}`, at, ""},
		{"forced ms", "time_unit: ms\n", `t=1795461300123\nv=1`, at, ""},
		{"1e10 s", "", `t=10000000000\nv=1`, 0, "t time 10000000000 in seconds (auto-detected): time outside"},
		{"ms as s", "time_unit: s\n", `{"t": 1795461300123, "v": 1}`, 0, "t time 1795461300123 in seconds: time outside"},
		{"not a number", "", `t=soon\nv=1`, 0, `t time "soon" is not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().UnixNano()
			r := once(t, "command: [sh, -c, "+quote("printf '"+tc.out+"\\n'")+"]\ntime_key: t\n"+tc.block)
			rs, errs := r.Readings(), r.Errors()
			if len(rs) != 1 || rs[0].Field != "v" {
				t.Fatalf("readings %+v, errors %v; want one of v", rs, errs)
			}
			if tc.want != 0 && rs[0].Time != tc.want || tc.want == 0 && rs[0].Time < before {
				t.Errorf("reading at %d, want %d (0: the finish time)", rs[0].Time, tc.want)
			}
			if tc.err == "" && len(errs) != 0 || tc.err != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.err)) {
				t.Errorf("errors %v, want %q", errs, tc.err)
			}
		})
	}
}
