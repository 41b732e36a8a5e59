package wampx

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gammazero/nexus/v3/stdlog"
)

// StdLog adapts a slog logger to the nexus logger interface; nexus messages
// are logged at debug level except its drop warnings ("!!!"), which are
// warnings. A nil logger discards.
func StdLog(l *slog.Logger) stdlog.StdLog {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return nexusLog{l}
}

type nexusLog struct{ l *slog.Logger }

func (n nexusLog) out(s string) {
	s = strings.TrimRight(s, "\n")
	lvl := slog.LevelDebug
	if strings.Contains(s, "!!!") || strings.Contains(s, "blocked") {
		lvl = slog.LevelWarn
	}
	n.l.Log(context.Background(), lvl, s, "component", "nexus")
}

func (n nexusLog) Print(v ...any)                 { n.out(fmt.Sprint(v...)) }
func (n nexusLog) Println(v ...any)               { n.out(fmt.Sprintln(v...)) }
func (n nexusLog) Printf(format string, v ...any) { n.out(fmt.Sprintf(format, v...)) }

// Logger returns l, or a logger that discards when l is nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
