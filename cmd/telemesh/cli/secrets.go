package cli

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"
)

func init() { register("secrets", secretsCommand) }

// secretsCommand is the secrets subcommand.
func secretsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "secrets",
		Usage: "create the shared secrets of a deployment (router users, nodes, hub, bridge)",
		Subcommands: []*ucli.Command{{
			Name:      "init",
			Usage:     "write a random secret file per name into --dir, keeping existing ones",
			ArgsUsage: "NAME...",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "dir", Value: "secrets", Usage: "folder for the secret files (created 0700)"},
				&ucli.IntFlag{Name: "bytes", Value: 32, Usage: "random bytes per secret (written as hex)"},
			},
			Action: secretsInit,
		}},
	}
}

// secretsInit writes one secret file per name unless it already exists, so
// that re-running it (as a compose init service does on every start)
// never rotates a secret behind a running component's back.
func secretsInit(c *ucli.Context) error {
	names := c.Args().Slice()
	if len(names) == 0 {
		return errors.New("name at least one secret, e.g. telemesh secrets init hub sim bridge")
	}
	n := c.Int("bytes")
	if n < 16 {
		return fmt.Errorf("--bytes %d is too short; use at least 16", n)
	}
	dir := c.String("dir")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, name := range names {
		if name == "" || filepath.Base(name) != name || name[0] == '.' {
			return fmt.Errorf("secret name %q must be a plain file name", name)
		}
		path := filepath.Join(dir, name)
		buf := make([]byte, n)
		if _, err := rand.Read(buf); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			fmt.Fprintf(c.App.Writer, "kept    %s\n", path)
			continue
		}
		if err != nil {
			return err
		}
		_, err = f.WriteString(hex.EncodeToString(buf) + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		fmt.Fprintf(c.App.Writer, "created %s\n", path)
	}
	return nil
}
