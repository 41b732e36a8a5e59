package cli

import (
	"regexp"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

var negativeNumber = regexp.MustCompile(`^-[0-9.]`)

// interspersed moves a command's flags that follow its arguments in front
// of them, so that `telemesh get NODE FIELD --since 1h` works as users
// expect; urfave/cli stops parsing flags at the first argument. Arguments
// after "--" stay arguments.
func interspersed(app *ucli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	// Global flags, then the command path.
	cmds := app.Commands
	flags := app.Flags
	var cmd *ucli.Command
	for len(rest) > 0 {
		a := rest[0]
		if a == "--" {
			return append(out, rest...)
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			n := flagArity(flags, a)
			take := min(1+n, len(rest))
			out = append(out, rest[:take]...)
			rest = rest[take:]
			continue
		}
		next := findCommand(cmds, a)
		if next == nil {
			break
		}
		cmd = next
		out = append(out, a)
		rest = rest[1:]
		cmds, flags = cmd.Subcommands, cmd.Flags
		if len(cmds) == 0 {
			break
		}
	}
	if cmd == nil {
		return append(out, rest...)
	}
	var fl, pos []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 && !negativeNumber.MatchString(a) {
			fl = append(fl, a)
			if flagArity(flags, a) == 1 && i+1 < len(rest) {
				i++
				fl = append(fl, rest[i])
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(append(out, fl...), pos...)
}

func findCommand(cmds []*ucli.Command, name string) *ucli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// flagArity is 1 when the flag token consumes the next argument as its value.
func flagArity(flags []ucli.Flag, tok string) int {
	if strings.Contains(tok, "=") {
		return 0
	}
	name := strings.TrimLeft(tok, "-")
	if name == "h" || name == "help" || name == "v" || name == "version" {
		return 0
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				if _, ok := f.(*ucli.BoolFlag); ok {
					return 0
				}
				return 1
			}
		}
	}
	return 0
}
