package cli

import (
	"fmt"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the environment variable of every flag: --data-dir is
// TELEMESH_DATA_DIR.
const EnvPrefix = "TELEMESH_"

// envName is the environment variable of a flag.
func envName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// withEnv sets the environment variable of every flag that has none.
func withEnv(_ string, flags []ucli.Flag) []ucli.Flag {
	for _, f := range flags {
		name := f.Names()[0]
		env := []string{envName(name)}
		switch f := f.(type) {
		case *ucli.StringFlag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		case *ucli.PathFlag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		case *ucli.BoolFlag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		case *ucli.IntFlag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		case *ucli.Int64Flag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		case *ucli.UintFlag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		case *ucli.Float64Flag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		case *ucli.DurationFlag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		case *ucli.StringSliceFlag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		case *ucli.TimestampFlag:
			if f.EnvVars == nil {
				f.EnvVars = env
			}
		}
	}
	return flags
}

// configFileKey is where the parsed config file is kept in app metadata.
const configFileKey = "configFile"

// loadConfigFile reads the --config YAML file, if any. Its top-level keys
// set global flags; a key named like a subcommand holds that subcommand's
// flags (nested for sub-subcommands, e.g. tls: {init: {...}}).
func loadConfigFile(c *ucli.Context) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata[configFileKey] = doc
	return applyValues(c, path, "", doc, c.App.Flags, commandNames(c.App.Commands))
}

// applyConfigSection applies the section of the config file for the
// command at path to the command's flags.
func applyConfigSection(c *ucli.Context, path []string) error {
	var doc map[string]any
	for _, cc := range c.Lineage() {
		if cc.App != nil && cc.App.Metadata != nil {
			if d, ok := cc.App.Metadata[configFileKey].(map[string]any); ok {
				doc = d
			}
		}
	}
	if doc == nil {
		return nil
	}
	sec := doc
	for _, p := range path {
		next, ok := sec[p]
		if !ok {
			return nil
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("config file: section %s must be a map", strings.Join(path, "."))
		}
		sec = m
	}
	return applyValues(c, "", strings.Join(path, ".")+".", sec, c.Command.Flags, commandNames(c.Command.Subcommands))
}

func commandNames(cmds []*ucli.Command) map[string]bool {
	m := map[string]bool{}
	for _, c := range cmds {
		m[c.Name] = true
	}
	return m
}

// applyValues sets each flag named in vals that neither the command line
// nor the environment set. Unknown keys are errors, as in prometheus's
// strict config loading.
func applyValues(c *ucli.Context, file, prefix string, vals map[string]any, flags []ucli.Flag, sections map[string]bool) error {
	known := map[string]ucli.Flag{}
	for _, f := range flags {
		for _, n := range f.Names() {
			known[n] = f
		}
	}
	for k, v := range vals {
		if sections[k] {
			continue
		}
		f, ok := known[k]
		if !ok {
			return fmt.Errorf("config file: unknown key %s%s", prefix, k)
		}
		name := f.Names()[0]
		if c.IsSet(name) {
			continue // command line and environment win over the file
		}
		var vs []string
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				vs = append(vs, fmt.Sprint(e))
			}
		default:
			vs = []string{fmt.Sprint(v)}
		}
		for _, s := range vs {
			if err := c.Set(name, s); err != nil {
				return fmt.Errorf("config file: %s%s: %w", prefix, k, err)
			}
		}
	}
	_ = file
	return nil
}
