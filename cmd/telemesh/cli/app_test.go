package cli

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telemesh/telemesh/internal/version"
	ucli "github.com/urfave/cli/v2"
)

// echoed records what the test-only "echo-flags" command saw.
var echoed struct {
	name  string
	count int
	tags  []string
}

// echoCommand is the test-only "echo-flags" command.
func echoCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "echo-flags",
		Usage:  "test only: records its flags",
		Hidden: true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "name", Value: "default"},
			&ucli.IntFlag{Name: "count"},
			&ucli.StringSliceFlag{Name: "tag"},
		},
		Action: func(c *ucli.Context) error {
			echoed.name, echoed.count, echoed.tags = c.String("name"), c.Int("count"), c.StringSlice("tag")
			return nil
		},
	}
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(&out, &errb, echoCommand())
	err := runApp(context.Background(), app, append([]string{"telemesh"}, args...))
	return out.String() + errb.String(), err
}

func TestHelpListsEveryCommand(t *testing.T) {
	out, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range subcommands() {
		if c.Hidden {
			continue
		}
		if !strings.Contains(out, c.Name) || c.Usage == "" {
			t.Errorf("command %q missing from help or without usage", c.Name)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.Contains(out, "telemesh "+version.Version) {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestFlagSources(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "telemesh.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	write("log-level: warn\necho-flags:\n  name: from-file\n  count: 3\n  tag: [a, b]\n")
	if _, err := run(t, "--config", cfg, "echo-flags"); err != nil {
		t.Fatal(err)
	}
	if echoed.name != "from-file" || echoed.count != 3 || strings.Join(echoed.tags, ",") != "a,b" {
		t.Errorf("config file values not applied: %+v", echoed)
	}

	t.Setenv("TELEMESH_NAME", "from-env")
	if _, err := run(t, "--config", cfg, "echo-flags"); err != nil {
		t.Fatal(err)
	}
	if echoed.name != "from-env" {
		t.Errorf("environment did not win over the file: %q", echoed.name)
	}
	if _, err := run(t, "--config", cfg, "echo-flags", "--name", "from-flag"); err != nil {
		t.Fatal(err)
	}
	if echoed.name != "from-flag" {
		t.Errorf("command line did not win: %q", echoed.name)
	}

	for _, tc := range []struct{ file, want string }{
		{"echo-flags:\n  nmae: x\n", "unknown key echo-flags.nmae"},
		{"bogus: 1\n", "unknown key bogus"},
		{"echo-flags: [1, 2\n", "config file"},
		{"echo-flags:\n  count: many\n", "echo-flags.count"},
	} {
		write(tc.file)
		_, err := run(t, "--config", cfg, "echo-flags")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want %q", tc.file, err, tc.want)
		}
	}
	if _, err := run(t, "--config", filepath.Join(dir, "missing.yaml"), "version"); err == nil {
		t.Error("missing config file accepted")
	}
	if _, err := run(t, "--log-level", "loud", "version"); err == nil {
		t.Error("bad log level accepted")
	}
}

func TestCheckArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"version"}, true},
		{[]string{"echo-flags", "--count", "2"}, true},
		{[]string{"echo-flags", "--count", "two"}, false},
		{[]string{"echo-flags", "--nope"}, false},
		{[]string{"no-such-command"}, false},
		{[]string{"secrets", "init", "--dir", "/x", "hub"}, true},
	} {
		if err := checkArgs(newApp(io.Discard, io.Discard, echoCommand()), tc.args); (err == nil) != tc.ok {
			t.Errorf("CheckArgs(%v) = %v", tc.args, err)
		}
	}
	// Stubbing the actions must not leak into later runs.
	if _, err := run(t, "echo-flags", "--name", "after-check"); err != nil || echoed.name != "after-check" {
		t.Errorf("echo-flags after CheckArgs: %q %v", echoed.name, err)
	}
}

func TestSecretsInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	if _, err := run(t, "secrets", "init", "--dir", dir, "hub", "sim"); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(filepath.Join(dir, "hub"))
	if err != nil || len(strings.TrimSpace(string(first))) != 64 {
		t.Fatalf("hub secret %q %v", first, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "hub")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	out, err := run(t, "secrets", "init", "--dir", dir, "hub")
	again, _ := os.ReadFile(filepath.Join(dir, "hub"))
	if err != nil || string(again) != string(first) || !strings.Contains(out, "kept") {
		t.Errorf("secret rotated on re-run: %v %q", err, out)
	}
	if _, err := run(t, "secrets", "init", "--dir", dir, "../evil"); err == nil {
		t.Error("path name accepted")
	}
}

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "n.db")
	db, err := sql.Open("sqlite3", src)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"PRAGMA journal_mode=WAL", "CREATE TABLE r(t INTEGER PRIMARY KEY, v REAL)", "INSERT INTO r VALUES (1, 2.5), (2, 3.5)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	defer db.Close() // the "node" keeps its database open
	dst := filepath.Join(dir, "backup.db")
	if out, err := run(t, "backup", src, dst); err != nil || !strings.Contains(out, "integrity ok") {
		t.Fatalf("backup: %v %s", err, out)
	}
	bdb, _ := sql.Open("sqlite3", dst)
	defer bdb.Close()
	var n int
	if err := bdb.QueryRow("SELECT count(*) FROM r").Scan(&n); err != nil || n != 2 {
		t.Errorf("backup holds %d rows: %v", n, err)
	}
	if _, err := run(t, "backup", src, dst); err == nil {
		t.Error("overwrote an existing backup")
	}
	if _, err := run(t, "backup", filepath.Join(dir, "none.db"), filepath.Join(dir, "x.db")); err == nil {
		t.Error("backed up a missing database")
	}
}

func TestInterspersedFlags(t *testing.T) {
	app := newApp(io.Discard, io.Discard, echoCommand())
	for _, tc := range []struct{ in, want string }{
		{"telemesh get sim temp co2 --since 1h", "telemesh get --since 1h sim temp co2"},
		{"telemesh --log-level debug get sim temp --format=csv", "telemesh --log-level debug get --format=csv sim temp"},
		{"telemesh get sim temp --from -3600 --to 0", "telemesh get --from -3600 --to 0 sim temp"},
		{"telemesh get sim -- --odd-field", "telemesh get sim -- --odd-field"},
		{"telemesh tls init --dir d --cn x", "telemesh tls init --dir d --cn x"},
		{"telemesh echo-flags x --tag a --tag b", "telemesh echo-flags --tag a --tag b x"},
		{"telemesh version", "telemesh version"},
	} {
		got := strings.Join(interspersed(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("interspersed(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
