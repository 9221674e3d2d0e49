package nat

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// levelTrace is the slog level pion's trace messages are logged at.
const levelTrace = slog.LevelDebug - 4

// orDiscard returns l, or a logger that drops everything when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// pionLogs adapts a *slog.Logger to pion's logging.LoggerFactory so that
// pion's ice, turn and transport packages log through the injected logger
// (and stay silent when it is nil) instead of writing to stderr.
type pionLogs struct{ l *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{l: f.l.With("pion", scope)}
}

type pionLogger struct{ l *slog.Logger }

func (p pionLogger) log(level slog.Level, msg string) {
	p.l.Log(context.Background(), level, msg)
}

func (p pionLogger) logf(level slog.Level, format string, args ...any) {
	if !p.l.Enabled(context.Background(), level) {
		return
	}
	p.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (p pionLogger) Trace(msg string)                  { p.log(levelTrace, msg) }
func (p pionLogger) Tracef(format string, args ...any) { p.logf(levelTrace, format, args...) }
func (p pionLogger) Debug(msg string)                  { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Debugf(format string, args ...any) { p.logf(slog.LevelDebug, format, args...) }

// pion logs routine events (state changes, gathering) at info level; they are
// debug material for ferry.
func (p pionLogger) Info(msg string)                  { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Infof(format string, args ...any) { p.logf(slog.LevelDebug, format, args...) }

// pion warns about many expected conditions (a STUN server that does not
// answer, a candidate that cannot be paired); keep them at info.
func (p pionLogger) Warn(msg string)                   { p.log(slog.LevelInfo, msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.logf(slog.LevelInfo, format, args...) }
func (p pionLogger) Error(msg string)                  { p.log(slog.LevelWarn, msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.logf(slog.LevelWarn, format, args...) }
