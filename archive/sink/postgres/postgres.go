// Package postgres is the archiver's PostgreSQL sink: one narrow table
// (time, node, field, value, text_value) keyed by (node, field, time), so
// that a series' time range is one index range scan, created on first
// write; points are upserted, so writing one twice keeps one row. When the
// TimescaleDB extension is available the table becomes a hypertable.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/telemesh/telemesh/archive"
)

// Sample is the documented configuration block.
const Sample = `- type: postgres
  name: pg
  dsn: postgres://archiver@127.0.0.1:5432/telemesh?sslmode=verify-full   # libpq URL or key=value; PGPASSWORD etc. apply
  # password_file: /run/secrets/pg-password
  # table: telemesh_points
  # timescaledb: auto          # auto (when the extension is available), on or off
`

func init() {
	archive.RegisterSink(archive.SinkType{
		Name:   "postgres",
		Usage:  "PostgreSQL (and TimescaleDB): one narrow table, upserted",
		Sample: Sample,
		Open:   archive.Opener(Open),
	})
}

// Config is the sink's block.
type Config struct {
	archive.Head `yaml:",inline"`
	DSN          string `yaml:"dsn"`
	PasswordFile string `yaml:"password_file"`
	Table        string `yaml:"table"`
	TimescaleDB  string `yaml:"timescaledb"`
}

var tableRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Sink upserts points into one table.
type Sink struct {
	cfg  Config
	pool *pgxpool.Pool

	// create makes concurrent first writes share one CREATE TABLE, which
	// PostgreSQL does not make safe to run twice at once.
	create singleflight.Group
	mu     sync.Mutex
	ready  bool // table created
	// Hypertable reports whether the table is a TimescaleDB hypertable.
	hyper bool
}

// Open checks a block and returns its sink; it does not connect.
func Open(block []byte) (*Sink, error) { return archive.OpenBlock(block, New) }

// New returns the sink of a decoded configuration.
func New(c Config) (*Sink, error) {
	if c.DSN == "" {
		return nil, errors.New("dsn: missing (e.g. postgres://archiver@127.0.0.1:5432/telemesh)")
	}
	pc, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("dsn: %v", err)
	}
	if c.PasswordFile != "" {
		pw, err := readSecret(c.PasswordFile)
		if err != nil {
			return nil, err
		}
		pc.ConnConfig.Password = pw
	}
	if c.Table == "" {
		c.Table = "telemesh_points"
	}
	if !tableRE.MatchString(c.Table) {
		return nil, fmt.Errorf("table: %q is not a plain lower-case SQL name", c.Table)
	}
	switch c.TimescaleDB {
	case "":
		c.TimescaleDB = "auto"
	case "auto", "on", "off":
	default:
		return nil, fmt.Errorf("timescaledb: %q is not auto, on or off", c.TimescaleDB)
	}
	pc.MaxConns = 4
	pc.ConnConfig.ConnectTimeout = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), pc) // connects lazily
	if err != nil {
		return nil, fmt.Errorf("dsn: %v", err)
	}
	return &Sink{cfg: c, pool: pool}, nil
}

// Hypertable reports whether the table was made a TimescaleDB hypertable.
func (s *Sink) Hypertable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hyper
}

func (s *Sink) ensure(ctx context.Context) error {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if ready {
		return nil
	}
	_, err, _ := s.create.Do("", func() (any, error) { return nil, s.createTable(ctx) })
	return err
}

func (s *Sink) createTable(ctx context.Context) error {
	t := s.cfg.Table
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
		time timestamptz NOT NULL,
		node text NOT NULL,
		field text NOT NULL,
		value double precision,
		text_value text,
		PRIMARY KEY (node, field, time))`, t)); err != nil {
		return fmt.Errorf("creating table %s: %w", t, err)
	}
	hyper := false
	if s.cfg.TimescaleDB != "off" {
		var avail bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')`).Scan(&avail); err != nil {
			return fmt.Errorf("looking for timescaledb: %w", err)
		}
		if !avail && s.cfg.TimescaleDB == "on" {
			return archive.Rejected(0, errors.New("timescaledb: on, but the extension is not available on the server"))
		}
		if avail {
			if _, err := s.pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS timescaledb`); err != nil {
				return fmt.Errorf("creating extension timescaledb: %w", err)
			}
			if _, err := s.pool.Exec(ctx, `SELECT create_hypertable($1, 'time', if_not_exists => TRUE, migrate_data => TRUE)`, t); err != nil {
				return fmt.Errorf("making %s a hypertable: %w", t, err)
			}
			hyper = true
		}
	}
	s.mu.Lock()
	s.ready, s.hyper = true, hyper
	s.mu.Unlock()
	return nil
}

type key struct {
	node, field string
	t           int64
}

// Write upserts pts in one statement; a point repeated in the batch is
// written once (its last value).
func (s *Sink) Write(ctx context.Context, pts []archive.Point) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	idx := make(map[key]int, len(pts))
	var (
		ts     []time.Time
		nodes  []string
		fields []string
		vals   []*float64
		texts  []*string
	)
	for _, p := range pts {
		var v *float64
		var tx *string
		switch x := p.Value.(type) {
		case float64:
			v = &x
		case bool:
			f := 0.0
			if x {
				f = 1
			}
			v = &f
		case string:
			tx = &x
		default:
			continue
		}
		k := key{p.Node, p.Field, p.Time}
		if i, ok := idx[k]; ok {
			vals[i], texts[i] = v, tx
			continue
		}
		idx[k] = len(ts)
		ts = append(ts, time.Unix(0, p.Time).UTC())
		nodes = append(nodes, p.Node)
		fields = append(fields, p.Field)
		vals = append(vals, v)
		texts = append(texts, tx)
	}
	if len(ts) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (time, node, field, value, text_value)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[], $5::text[])
		ON CONFLICT (node, field, time) DO UPDATE SET value = EXCLUDED.value, text_value = EXCLUDED.text_value`, s.cfg.Table),
		ts, nodes, fields, vals, texts)
	if err != nil {
		return fmt.Errorf("writing %d points to %s: %w", len(ts), s.cfg.Table, err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Sink) Close() error {
	s.pool.Close()
	return nil
}

// Pool returns the sink's connection pool (for reading back in tests and
// tools).
func (s *Sink) Pool() *pgxpool.Pool { return s.pool }

func readSecret(file string) (string, error) {
	b, err := readFile(file)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("password_file: %s is empty", file)
	}
	return b, nil
}

func readFile(file string) (string, error) {
	b, err := os.ReadFile(file)
	return strings.TrimSpace(string(b)), err
}
