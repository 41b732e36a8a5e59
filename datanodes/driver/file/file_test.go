package file

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/driver/drivertest"
	"github.com/telemesh/telemesh/protocol"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestSample(t *testing.T) {
	drivertest.CheckSample(t, "file")
}

func TestConfigErrors(t *testing.T) {
	drivertest.CheckInvalid(t, "file", []string{
		"columns: [{column: 1, field: x}]",
		"paths: [a]",
		"paths: ['[']\ncolumns: [{column: 1, field: x}]",
		"paths: [a]\ncolumns: [{column: 0, field: x}]",
		"paths: [a]\ncolumns: [{column: 1, field: '{name}'}]",
		"paths: [a]\ncolumns: [{column: 1, field: x}]\ntime: {format: doy}",
		"paths: [a]\ncolumns: [{column: 1, field: x}]\ntime: {format: seconds}",
		"paths: [a]\ncolumns: [{column: 1, field: x}]\ntime: {zone: Mars/Olympus}",
		"paths: [a]\ncolumns: [{column: 1, field: x}]\ndelimiter: '::'",
		"paths: [a]\ncolumns: [{column: 1, field: x}]\npreset: nope",
		"paths: [a]\ncolumns: [{column: 1, field: x, typo: 1}]",
		"paths: [a]\ncolumns: [{column: 1, field: x}]\nkeep_nan: true",
	})
}

// render prints fields, readings and errors as the golden files hold them.
func render(r *drivertest.Recorder, root string) string {
	var b strings.Builder
	fields := r.Fields()
	for _, n := range r.FieldNames() {
		f := fields[n]
		fmt.Fprintf(&b, "field %s units=%q timeline=%s interval=%v type=%s description=%q\n", n, f.Units, f.Timeline, f.Interval, f.Type, f.Description)
	}
	for _, rd := range r.Readings() {
		fmt.Fprintf(&b, "%s %s %v\n", time.Unix(0, rd.Time).UTC().Format(time.RFC3339Nano), rd.Field, rd.Value)
	}
	for _, err := range r.Errors() {
		fmt.Fprintf(&b, "error: %s\n", strings.ReplaceAll(err.Error(), root, "<dir>"))
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPresets(t *testing.T) {
	for _, tc := range []struct{ name, block string }{
		{"apex_weather", "preset: apex_weather\npaths: [testdata/apex_weather/*]\n"},
		{"apex_archive", "preset: apex_archive\npaths: [testdata/apex_archive/*.dat]\n"},
		{"radiometer", "preset: ucsc_radiometer\npaths: [testdata/radiometer/PWV_UCSC_*.txt]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := drivertest.MustDecode(t, "file", tc.block).(*Driver)
			r := drivertest.NewRecorder()
			d.Scan(context.Background(), r)
			// A second pass over unchanged files reads nothing again.
			n, ne := r.Len(), len(r.Errors())
			d.Scan(context.Background(), r)
			if r.Len() != n || len(r.Errors()) != ne {
				t.Errorf("second pass added %d readings, %d errors", r.Len()-n, len(r.Errors())-ne)
			}
			golden(t, tc.name, render(r, "testdata"))
		})
	}
}

func write(t *testing.T, path, s string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFollowCSV(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "station.csv")
	write(t, path, "time,temp,ok,note\n2024-03-01 12:00:00,1.5,true,a\n", os.O_TRUNC)
	block := fmt.Sprintf(`paths: [%q]
delimiter: ","
skip_lines: 1
time: {column: 0, format: "2006-01-02 15:04:05", zone: Europe/Berlin}
columns:
  - {column: 1, field: temp, units: C}
  - {column: 2, field: ok, type: bool}
  - {column: 3, field: note, type: string}
timeline: station
interval: 1m
prefix: "st."
poll: 10ms
`, filepath.Join(dir, "*.csv"))
	d := drivertest.MustDecode(t, "file", block).(*Driver)
	r := drivertest.NewRecorder()
	drivertest.Start(t, d, r)
	rs := r.Wait(t, 3)
	want := time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC).UnixNano()
	if rs[0].Field != "st.temp" || rs[0].Value != 1.5 || rs[0].Time != want {
		t.Fatalf("first reading = %+v", rs[0])
	}
	f := r.Fields()
	if f["st.temp"].Units != "C" || f["st.ok"].Type != protocol.TypeBool || f["st.note"].Timeline != "station" {
		t.Fatalf("fields = %+v", f)
	}
	// A half-written line waits for its end.
	write(t, path, "2024-03-01 12:01:00,2.", os.O_APPEND)
	write(t, path, "5,false,b\n", os.O_APPEND)
	rs = r.WaitField(t, "st.temp", 2)
	if rs[1].Value != 2.5 {
		t.Fatalf("appended reading = %+v", rs[1])
	}
	// A bad line is reported and skipped; the rest of the file is read.
	write(t, path, "garbage\n2024-03-01 12:02:00,3.5,true,c\n", os.O_APPEND)
	r.WaitField(t, "st.temp", 3)
	r.WaitErrors(t, 1)
	// Truncation: the file is read again from its start.
	write(t, path, "time,temp,ok,note\n2024-03-01 12:03:00,4.5,true,d\n", os.O_TRUNC)
	rs = r.WaitField(t, "st.temp", 4)
	if rs[3].Value != 4.5 {
		t.Fatalf("after truncation = %+v", rs[3])
	}
	// Rotation: a new file under the old name, and a new file beside it.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, path, "time,temp,ok,note\n2024-03-01 12:04:00,5.5,true,e\n", os.O_TRUNC)
	write(t, filepath.Join(dir, "other.csv"), "h\n2024-03-01 12:05:00,6.5,true,f\n", os.O_TRUNC)
	rs = r.WaitField(t, "st.temp", 6)
	got := map[float64]bool{}
	for _, rd := range rs {
		got[rd.Value.(float64)] = true
	}
	for _, v := range []float64{1.5, 2.5, 3.5, 4.5, 5.5, 6.5} {
		if !got[v] {
			t.Errorf("missing reading %v in %v", v, rs)
		}
	}
}

func TestNoBackfill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.dat")
	write(t, path, "1700000000 1\n1700000001 2\n", os.O_TRUNC)
	no := false
	d := New()
	d.Paths, d.Columns, d.Backfill = []string{path}, []Column{{Column: 1, Field: "v"}}, &no
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	r := drivertest.NewRecorder()
	d.Scan(context.Background(), r)
	write(t, path, "1700000002 3\n", os.O_APPEND)
	d.Scan(context.Background(), r)
	rs := r.Readings()
	if len(rs) != 1 || rs[0].Value != 3.0 || rs[0].Time != 1700000002e9 {
		t.Fatalf("readings = %+v", rs)
	}
}

func TestEpochUnits(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.dat"), "1700000000123;7\n", os.O_TRUNC)
	d := drivertest.MustDecode(t, "file", fmt.Sprintf("paths: [%q]\ndelimiter: ';'\ntime: {format: epoch_ms}\ncolumns: [{column: 1, field: v}]\n", filepath.Join(dir, "*"))).(*Driver)
	r := drivertest.NewRecorder()
	d.Scan(context.Background(), r)
	if rs := r.Readings(); len(rs) != 1 || rs[0].Time != 1700000000123e6 {
		t.Fatalf("readings = %+v", rs)
	}
}

// BenchmarkBackfill measures how fast history is read: readings/s.
func BenchmarkBackfill(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "big.dat")
	var sb strings.Builder
	const rows = 200000
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&sb, "%d.%03d %d.%d\n", 1700000000+i, i%1000, i%97, i%10)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(sb.Len()))
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		d := New()
		d.Paths, d.Columns = []string{path}, []Column{{Column: 1, Field: "v"}}
		if err := d.Init(); err != nil {
			b.Fatal(err)
		}
		var c counter
		d.Scan(context.Background(), &c)
		n += c.n
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "readings/s")
}

type counter struct{ n int }

func (c *counter) Declare(...driver.Field)     {}
func (c *counter) Emit(rs ...protocol.Reading) { c.n += len(rs) }
func (c *counter) Error(err error)             { panic(err) }

// TestTimeColumn: a time column's unit is detected (or forced), and a time
// past 2262 (in any unit, or from a layout or a file's year) is a reported
// error naming the fields and the raw value, never a wrapped reading.
func TestTimeColumn(t *testing.T) {
	const at = int64(1_795_461_300_123_000_000) // 2026-11-23T19:15:00.123Z
	for _, tc := range []struct {
		name, time, row string
		file            string // file name, a.dat by default
		want            int64  // 0: the row is refused
		err             string // in the reported error
	}{
		{"seconds", "{format: epoch}", "1795461300.123 7", "", at, ""},
		{"ms auto", "{format: epoch}", "1795461300123 7", "", at, ""},
		{"us auto", "{}", "1795461300123000 7", "", at, ""},
		{"ns auto", "{unit: auto}", "1795461300123000000 7", "", at, ""},
		{"ms forced", "{unit: ms}", "1795461300123 7", "", at, ""},
		{"epoch_us", "{format: epoch_us}", "1795461300123000 7", "", at, ""},
		{"1e10 s", "{}", "10000000000 7", "", 0, "time column 0 of v: time 10000000000 in seconds (auto-detected)"},
		{"ms as s", "{unit: s}", "1795461300123 7", "", 0, "time 1795461300123 in seconds: time outside"},
		{"past 2262 in ms", "{unit: ms}", "9300000000000 7", "", 0, "time 9300000000000 in milliseconds"},
		{"past 2262 in us", "{unit: us}", "9300000000000000 7", "", 0, "time 9300000000000000 in microseconds"},
		{"NaN time", "{}", "NaN 7", "", 0, "time NaN is not finite"},
		{"layout 2300", "{format: '2006-01-02T15:04:05'}", "2300-01-01T00:00:00 7", "", 0, `time "2300-01-01T00:00:00": time outside`},
		{"doy in 2263", "{format: doy}", "1.5 7", "PWV_9999-001.txt", 0, "day of year 1.5 of 9999"},
		{"doy in 2026", "{format: doy}", "1.5 7", "PWV_2026-001.txt", 1_767_268_800_000_000_000, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := tc.file
			if name == "" {
				name = "a.dat"
			}
			write(t, filepath.Join(dir, name), tc.row+"\n", os.O_TRUNC)
			conf := fmt.Sprintf("paths: [%q]\ntime: %s\nyear_pattern: 'PWV_(?P<year>\\d{4})'\ncolumns: [{column: 1, field: v}]\n", filepath.Join(dir, "*"), tc.time)
			d := drivertest.MustDecode(t, "file", conf).(*Driver)
			r := drivertest.NewRecorder()
			d.Scan(context.Background(), r)
			rs, errs := r.Readings(), r.Errors()
			if tc.want != 0 {
				if len(rs) != 1 || rs[0].Time != tc.want || len(errs) != 0 {
					t.Fatalf("readings %+v, errors %v; want one at %d", rs, errs, tc.want)
				}
				return
			}
			if len(rs) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.err) {
				t.Fatalf("readings %+v, errors %v; want none and an error with %q", rs, errs, tc.err)
			}
		})
	}
	if _, err := drivertest.Decode("file", "paths: [x]\ntime: {format: epoch_ms, unit: us}\ncolumns: [{column: 1, field: v}]\n"); err == nil {
		t.Error("epoch_ms with unit us accepted")
	}
	if _, err := drivertest.Decode("file", "paths: [x]\ntime: {unit: seconds}\ncolumns: [{column: 1, field: v}]\n"); err == nil {
		t.Error("unit seconds accepted")
	}
	if _, err := drivertest.Decode("file", "paths: [x]\ntime: {format: '2006-01-02', unit: ms}\ncolumns: [{column: 1, field: v}]\n"); err == nil {
		t.Error("unit with a layout accepted")
	}
}
