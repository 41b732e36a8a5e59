// Package file is a data-node driver reading text and CSV time series:
// it backfills the history already in a glob of files, then follows them
// as they grow, are truncated or rotated, and picks up new files.
//
// Presets reproduce the formats sisock's site-specific nodes served: APEX
// weather files (`epoch value` rows, the field named by the file) and the
// UCSC radiometer's day files (fractional day of year, year from the file
// name, pwv or NaN).
package file

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/driver/config"
	"github.com/telemesh/telemesh/protocol"
)

//go:embed sample.yaml
var sample string

func init() {
	driver.Register(driver.Registration{
		Name:   "file",
		Usage:  "text/CSV time-series files: backfills history, then follows growing and rotated files",
		Sample: sample,
		New:    func() driver.Driver { return New() },
	})
}

// TimeConfig says where a row's time is and how to read it.
type TimeConfig struct {
	// Column is the 0-based column of the time.
	Column int `yaml:"column"`
	// Format is epoch (a number in Unit, may be fractional), epoch_ms,
	// epoch_us, epoch_ns (epoch with that unit), doy (fractional day of
	// year, 1.0 = 1 January 00:00, with the year taken from the file
	// name), or a Go time layout.
	Format string `yaml:"format"`
	// Unit is the unit of an epoch time: s, ms, us, ns or auto (the
	// default: told apart by magnitude, see config.TimeUnit).
	Unit config.TimeUnit `yaml:"unit"`
	// Zone is the IANA zone for layouts without an offset and for doy.
	Zone string `yaml:"zone"`
}

// Column maps one column to a field.
type Column struct {
	Column int `yaml:"column"`
	// Field is the field name; {name} stands for the part of the file
	// name that name_pattern captures.
	Field       string `yaml:"field"`
	Units       string `yaml:"units"`
	Description string `yaml:"description"`
	// Type is number (default), string or bool.
	Type string `yaml:"type"`
}

// Driver reads and follows text time-series files. Its exported fields
// are its YAML block.
type Driver struct {
	Type   string   `yaml:"type"`
	Preset string   `yaml:"preset"`
	Paths  []string `yaml:"paths"`
	// Delimiter splits columns; empty means runs of white space.
	Delimiter string `yaml:"delimiter"`
	// SkipLines skips this many lines at the start of every file.
	SkipLines int `yaml:"skip_lines"`
	// Comment starts lines to ignore; empty disables comments.
	Comment string `yaml:"comment"`
	// HeaderMeta names what each leading comment line of a file holds:
	// description, timeline or units (sisock's APEX archive files).
	HeaderMeta  []string                    `yaml:"header_meta"`
	Time        TimeConfig                  `yaml:"time"`
	NamePattern string                      `yaml:"name_pattern"`
	YearPattern string                      `yaml:"year_pattern"`
	Columns     []Column                    `yaml:"columns"`
	Fields      map[string]config.FieldMeta `yaml:"fields"`
	// Timeline may use {name}; empty means one timeline per field.
	Timeline string        `yaml:"timeline"`
	Interval time.Duration `yaml:"interval"`
	Prefix   string        `yaml:"prefix"`
	// KeepNaN must stay false: a reading is never NaN (protocol's NaN
	// rule; the node refuses NaN readings), so NaN values are skipped. The
	// key is still read so that old configurations get a clear error.
	KeepNaN bool `yaml:"keep_nan"`
	// Backfill reads what files hold at start; false starts at their end.
	Backfill *bool         `yaml:"backfill"`
	Poll     time.Duration `yaml:"poll"`

	nameRE, yearRE *regexp.Regexp
	loc            *time.Location
	files          map[string]*state
	declared       map[string]bool
	started        bool
	batch          []protocol.Reading
}

// state is how far a followed file has been read.
type state struct {
	ino     uint64
	offset  int64
	line    int
	name    string
	year    int
	yearErr error
	meta    map[string]string
}

// New returns a driver with the default configuration.
func New() *Driver {
	return &Driver{Comment: "#", Time: TimeConfig{Format: "epoch", Zone: "UTC"}, Poll: 2 * time.Second}
}

// presets are sisock formats as configurations; explicit keys win.
var presets = map[string]func(d *Driver){
	// Production APEX weather files <x>_<field>_<startctime>_<endctime>.dat.
	"apex_weather": func(d *Driver) {
		def(&d.NamePattern, `^[^_]+_(?P<name>[a-z]+)_\d+_\d+\.dat$`)
		if len(d.Columns) == 0 {
			d.Columns = []Column{{Column: 1, Field: "{name}"}}
		}
		defMeta(d, map[string]config.FieldMeta{
			"humidity":      {Units: "%", Description: "relative humidity at APEX"},
			"pressure":      {Units: "mBar", Description: "atmospheric pressure at APEX"},
			"radiometer":    {Units: "mm", Description: "PWV from the APEX radiometer"},
			"dewpoint":      {Units: "C", Description: "dew point at APEX"},
			"temperature":   {Units: "C", Description: "temperature at APEX"},
			"windspeed":     {Units: "km/h", Description: "wind speed at APEX"},
			"winddirection": {Units: "deg", Description: "wind direction at APEX"},
		})
	},
	// sisock's example archive: <field>.dat with three header comments.
	"apex_archive": func(d *Driver) {
		def(&d.NamePattern, `^(?P<name>[^.]+)\.dat$`)
		if len(d.HeaderMeta) == 0 {
			d.HeaderMeta = []string{"description", "timeline", "units"}
		}
		if len(d.Columns) == 0 {
			d.Columns = []Column{{Column: 1, Field: "{name}"}}
		}
	},
	// UCSC radiometer day files PWV_UCSC_<year>-<doy>.txt (<doy>-<year> in
	// part of 2018), one header line, rows <fractional doy> <pwv|NaN>.
	"ucsc_radiometer": func(d *Driver) {
		def(&d.YearPattern, `PWV_UCSC_(?:(?P<year>\d{4})-\d{1,3}|\d{1,3}-(?P<year>\d{4}))\.txt$`)
		if d.Time.Format == "epoch" {
			d.Time.Format = "doy"
		}
		if d.SkipLines == 0 {
			d.SkipLines = 1
		}
		if len(d.Columns) == 0 {
			d.Columns = []Column{{Column: 1, Field: "pwv", Units: "mm", Description: "PWV from UCSC Radiometer"}}
		}
		def(&d.Timeline, "pwv")
		if d.Interval == 0 {
			d.Interval = 60480 * time.Millisecond
		}
	},
}

func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func defMeta(d *Driver, m map[string]config.FieldMeta) {
	if d.Fields == nil {
		d.Fields = map[string]config.FieldMeta{}
	}
	for k, v := range m {
		if _, ok := d.Fields[k]; !ok {
			d.Fields[k] = v
		}
	}
}

// Init applies the preset and validates the configuration.
func (d *Driver) Init() error {
	if d.Preset != "" {
		p, ok := presets[d.Preset]
		if !ok {
			return fmt.Errorf("file: unknown preset %q (want apex_weather, apex_archive or ucsc_radiometer)", d.Preset)
		}
		p(d)
	}
	if d.KeepNaN {
		return errors.New("file: keep_nan is no longer supported: a reading is never NaN, so NaN values are skipped (remove keep_nan)")
	}
	if len(d.Paths) == 0 {
		return errors.New("file: paths must list at least one glob")
	}
	for _, p := range d.Paths {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("file: bad glob %q: %w", p, err)
		}
	}
	if len(d.Delimiter) > 1 {
		return fmt.Errorf("file: delimiter %q must be one character or empty", d.Delimiter)
	}
	if len(d.Columns) == 0 {
		return errors.New("file: columns must map at least one column to a field")
	}
	if d.Poll <= 0 {
		return fmt.Errorf("file: poll %v must be positive", d.Poll)
	}
	if d.SkipLines < 0 || d.Time.Column < 0 {
		return errors.New("file: skip_lines and time.column must not be negative")
	}
	for _, h := range d.HeaderMeta {
		switch h {
		case "description", "timeline", "units", "":
		default:
			return fmt.Errorf("file: header_meta entry %q: want description, timeline, units or empty", h)
		}
	}
	var err error
	if d.NamePattern != "" {
		if d.nameRE, err = regexp.Compile(d.NamePattern); err != nil {
			return fmt.Errorf("file: name_pattern: %w", err)
		}
		if d.nameRE.SubexpIndex("name") < 0 {
			return errors.New("file: name_pattern needs a (?P<name>...) group")
		}
	}
	if d.YearPattern != "" {
		if d.yearRE, err = regexp.Compile(d.YearPattern); err != nil {
			return fmt.Errorf("file: year_pattern: %w", err)
		}
	}
	if d.loc, err = time.LoadLocation(d.Time.Zone); err != nil {
		return fmt.Errorf("file: time.zone: %w", err)
	}
	if err := d.Time.Unit.Check(); err != nil {
		return fmt.Errorf("file: time.unit: %w", err)
	}
	switch d.Time.Format {
	case "", "epoch":
		d.Time.Format = "epoch"
		if d.Time.Unit == "" {
			d.Time.Unit = config.UnitAuto
		}
	case "epoch_ms", "epoch_us", "epoch_ns":
		u := config.TimeUnit(strings.TrimPrefix(d.Time.Format, "epoch_"))
		if d.Time.Unit != "" && d.Time.Unit != u {
			return fmt.Errorf("file: time.format %s and time.unit %s disagree", d.Time.Format, d.Time.Unit)
		}
		d.Time.Format, d.Time.Unit = "epoch", u
	case "doy":
		if d.yearRE == nil {
			return errors.New("file: time.format doy needs year_pattern with a (?P<year>...) group")
		}
	default:
		if !strings.ContainsAny(d.Time.Format, "0123456789") {
			return fmt.Errorf("file: time.format %q is neither an epoch unit, doy nor a Go layout", d.Time.Format)
		}
	}
	if d.Time.Format != "epoch" && d.Time.Unit != "" && d.Time.Unit != config.UnitAuto {
		return fmt.Errorf("file: time.unit applies to epoch times, not to time.format %q", d.Time.Format)
	}
	for i, c := range d.Columns {
		if c.Column < 0 || c.Column == d.Time.Column {
			return fmt.Errorf("file: columns[%d]: column %d is negative or the time column", i, c.Column)
		}
		if c.Field == "" {
			return fmt.Errorf("file: columns[%d]: field must not be empty", i)
		}
		if strings.Contains(c.Field, "{name}") && d.nameRE == nil {
			return fmt.Errorf("file: columns[%d]: field %q uses {name} without name_pattern", i, c.Field)
		}
		switch c.Type {
		case "":
			d.Columns[i].Type = protocol.TypeNumber
		case protocol.TypeNumber, protocol.TypeString, protocol.TypeBool:
		default:
			return fmt.Errorf("file: columns[%d]: type %q", i, c.Type)
		}
	}
	return nil
}

// Run backfills, then polls the files every Poll until ctx ends.
func (d *Driver) Run(ctx context.Context, sink driver.Sink) error {
	tick := time.NewTicker(d.Poll)
	defer tick.Stop()
	for {
		d.Scan(ctx, sink)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// batchSize bounds how many readings one Emit carries.
const batchSize = 4096

// Scan makes one pass over the files: it finds them, reads what each has
// gained since the last pass and emits it.
func (d *Driver) Scan(ctx context.Context, sink driver.Sink) {
	if d.files == nil {
		d.files, d.declared = map[string]*state{}, map[string]bool{}
	}
	first := !d.started
	d.started = true
	seen := map[string]bool{}
	var paths []string
	for _, g := range d.Paths {
		m, _ := filepath.Glob(g)
		for _, p := range m {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	sort.Strings(paths)
	for p := range d.files {
		if !seen[p] {
			delete(d.files, p)
		}
	}
	for _, p := range paths {
		if ctx.Err() != nil {
			return
		}
		d.follow(p, first, sink)
	}
	d.flush(sink)
}

func (d *Driver) flush(sink driver.Sink) {
	if len(d.batch) > 0 {
		sink.Emit(d.batch...)
		d.batch = d.batch[:0]
	}
}

func (d *Driver) follow(path string, first bool, sink driver.Sink) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	s := d.files[path]
	switch {
	case s == nil:
		s = d.newState(path)
		d.files[path] = s
		if first && d.Backfill != nil && !*d.Backfill {
			s.ino, s.offset, s.line = ino, fi.Size(), -1
			return
		}
	case s.ino != ino:
		// Rotated: a new file under the old name is read from its start.
		*s = *d.newState(path)
	case fi.Size() < s.offset:
		sink.Error(fmt.Errorf("file %s: truncated from %d to %d bytes; reading it again", path, s.offset, fi.Size()))
		*s = *d.newState(path)
	}
	s.ino = ino
	if fi.Size() == s.offset {
		return
	}
	if err := d.read(path, s, sink); err != nil {
		sink.Error(fmt.Errorf("file %s: %w", path, err))
	}
}

func (d *Driver) newState(path string) *state {
	s := &state{meta: map[string]string{}}
	base := filepath.Base(path)
	if d.nameRE != nil {
		if m := d.nameRE.FindStringSubmatch(base); m != nil {
			s.name = m[d.nameRE.SubexpIndex("name")]
		}
	}
	if d.yearRE != nil {
		s.yearErr = fmt.Errorf("no year in file name %q", base)
		if m := d.yearRE.FindStringSubmatch(base); m != nil {
			for i, n := range d.yearRE.SubexpNames() {
				if n == "year" && m[i] != "" {
					s.year, _ = strconv.Atoi(m[i])
					s.yearErr = nil
					break
				}
			}
		}
	}
	return s
}

// read consumes the complete lines added to path since s.offset; a last
// line without its newline waits for the next pass.
func (d *Driver) read(path string, s *state, sink driver.Sink) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		return err
	}
	if d.nameRE != nil && s.name == "" {
		// Nothing to name its fields after: skip the file for good.
		fi, _ := f.Stat()
		s.offset = fi.Size()
		return fmt.Errorf("file name does not match name_pattern %q", d.NamePattern)
	}
	br := bufio.NewReaderSize(f, 256<<10)
	var bad int
	var firstBad error
	cols := make([]string, 0, 16)
	for {
		raw, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An absurdly long line: skip it whole.
			n := int64(len(raw))
			for err == bufio.ErrBufferFull {
				raw, err = br.ReadSlice('\n')
				n += int64(len(raw))
			}
			if err != nil {
				break
			}
			s.offset += n
			s.line++
			bad++
			if firstBad == nil {
				firstBad = fmt.Errorf("line %d: longer than %d bytes", s.line, 256<<10)
			}
			continue
		}
		if err != nil {
			break // EOF: an incomplete last line is read next time
		}
		s.offset += int64(len(raw))
		if s.line < 0 {
			// Started at the end of a file whose line count is unknown:
			// headers are long past.
			s.line = math.MaxInt32
		}
		s.line++
		line := bytes.TrimRight(raw, "\r\n")
		if s.line <= d.SkipLines {
			continue
		}
		if d.Comment != "" && bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte(d.Comment)) {
			if n := s.line - d.SkipLines; n <= len(d.HeaderMeta) && d.HeaderMeta[n-1] != "" {
				txt := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(line)), d.Comment))
				s.meta[d.HeaderMeta[n-1]] = txt
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := d.row(line, s, cols, sink); err != nil {
			bad++
			if firstBad == nil {
				firstBad = fmt.Errorf("line %d: %w", s.line, err)
			}
		}
		if len(d.batch) >= batchSize {
			d.flush(sink)
		}
	}
	if bad > 0 {
		return fmt.Errorf("skipped %d bad lines, first %w", bad, firstBad)
	}
	return nil
}

func (d *Driver) split(line []byte, cols []string) []string {
	cols = cols[:0]
	str := string(line)
	if d.Delimiter == "" {
		return append(cols, strings.Fields(str)...)
	}
	for _, c := range strings.Split(str, d.Delimiter) {
		cols = append(cols, strings.TrimSpace(c))
	}
	return cols
}

func (d *Driver) row(line []byte, s *state, cols []string, sink driver.Sink) error {
	cols = d.split(line, cols)
	if d.Time.Column >= len(cols) {
		return fmt.Errorf("no time column %d in %q", d.Time.Column, line)
	}
	t, err := d.parseTime(cols[d.Time.Column], s)
	if err != nil {
		// The readings of the row are skipped: say whose they were.
		names := make([]string, len(d.Columns))
		for i, c := range d.Columns {
			names[i] = d.Prefix + strings.ReplaceAll(c.Field, "{name}", s.name)
		}
		return fmt.Errorf("time column %d of %s: %w", d.Time.Column, strings.Join(names, ", "), err)
	}
	var rerr error
	for _, c := range d.Columns {
		if c.Column >= len(cols) {
			rerr = fmt.Errorf("no column %d in %q", c.Column, line)
			continue
		}
		v, err := value(cols[c.Column], c.Type)
		if err != nil {
			rerr = fmt.Errorf("column %d: %w", c.Column, err)
			continue
		}
		if f, ok := v.(float64); ok && math.IsNaN(f) {
			continue
		}
		name := d.fieldName(c, s, sink)
		d.batch = append(d.batch, protocol.Reading{Field: name, Time: t, Value: v})
	}
	return rerr
}

// fieldName returns the column's field for file s, declaring it on first
// use.
func (d *Driver) fieldName(c Column, s *state, sink driver.Sink) string {
	name := d.Prefix + strings.ReplaceAll(c.Field, "{name}", s.name)
	if !protocol.ValidFieldName(name) {
		name = config.Sanitize(name)
	}
	if d.declared[name] {
		return name
	}
	d.declared[name] = true
	f := driver.Field{Name: name, Units: c.Units, Description: c.Description, Type: c.Type,
		Timeline: strings.ReplaceAll(d.Timeline, "{name}", s.name), Interval: d.Interval}
	if m, ok := d.Fields[strings.TrimPrefix(name, d.Prefix)]; ok {
		f.Units, f.Description = m.Units, m.Description
	}
	if v := s.meta["units"]; v != "" {
		f.Units = v
	}
	if v := s.meta["description"]; v != "" {
		f.Description = v
	}
	if v := s.meta["timeline"]; v != "" {
		f.Timeline = v
	}
	if f.Timeline != "" {
		f.Timeline = config.Sanitize(f.Timeline)
	}
	// Readings batched so far are of declared fields; keep that order.
	d.flush(sink)
	sink.Declare(f)
	return name
}

func (d *Driver) parseTime(s string, st *state) (int64, error) {
	switch d.Time.Format {
	case "epoch":
		return d.Time.Unit.Parse(s)
	case "doy":
		if st.yearErr != nil {
			return 0, st.yearErr
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 1 || f >= 367 {
			return 0, fmt.Errorf("bad day of year %q", s)
		}
		jan1 := time.Date(st.year, 1, 1, 0, 0, 0, 0, d.loc)
		t := jan1.Add(time.Duration(math.Round((f-1)*86400e6)) * time.Microsecond)
		ns, err := protocol.TimeNanos(t)
		if err != nil {
			return 0, fmt.Errorf("day of year %s of %d: %w", s, st.year, err)
		}
		return ns, nil
	}
	t, err := time.ParseInLocation(d.Time.Format, s, d.loc)
	if err != nil {
		return 0, fmt.Errorf("bad time %q: %w", s, err)
	}
	ns, err := protocol.TimeNanos(t)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	return ns, nil
}

func value(s, typ string) (any, error) {
	switch typ {
	case protocol.TypeString:
		return s, nil
	case protocol.TypeBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("bad bool %q", s)
		}
		return b, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("bad number %q", s)
	}
	return f, nil
}
