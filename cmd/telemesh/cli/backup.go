package cli

import (
	"database/sql"
	"errors"
	"fmt"
	"os"

	_ "github.com/mattn/go-sqlite3" // the node's database driver
	ucli "github.com/urfave/cli/v2"
)

func init() { register("backup", backupCommand) }

// backupCommand is the backup subcommand.
func backupCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "backup",
		Usage:     "copy a data node's SQLite database consistently, while the node keeps running",
		ArgsUsage: "NODE.db BACKUP.db",
		Description: `backup writes a consistent, compacted copy of a node database with SQLite's
   VACUUM INTO, which reads one snapshot and does not block the node's writes
   for long. Restore by stopping the node and putting the copy in its place.`,
		Action: backup,
	}
}

func backup(c *ucli.Context) error {
	if c.NArg() != 2 {
		return errors.New("usage: telemesh backup NODE.db BACKUP.db")
	}
	src, dst := c.Args().Get(0), c.Args().Get(1)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s exists; refusing to overwrite a backup", dst)
	}
	db, err := sql.Open("sqlite3", "file:"+src+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(c.Context, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("backing up %s: %w", src, err)
	}
	var check string
	bdb, err := sql.Open("sqlite3", "file:"+dst+"?mode=ro")
	if err != nil {
		return err
	}
	defer bdb.Close()
	if err := bdb.QueryRowContext(c.Context, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		return fmt.Errorf("backup %s failed its integrity check: %v %s", dst, err, check)
	}
	fmt.Fprintf(c.App.Writer, "backed up %s to %s (integrity ok)\n", src, dst)
	return nil
}
