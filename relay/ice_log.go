package relay

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// iceLevelTrace is the slog level pion's trace messages are logged at.
const iceLevelTrace = slog.LevelDebug - 4

// iceLogFactory adapts a *slog.Logger to pion's logging.LoggerFactory, so
// that the STUN and TURN servers log through ICEConfig.Logger.
type iceLogFactory struct{ l *slog.Logger }

func (f iceLogFactory) NewLogger(scope string) logging.LeveledLogger {
	return iceLogger{l: f.l.With("pion", scope)}
}

type iceLogger struct{ l *slog.Logger }

func (p iceLogger) log(level slog.Level, msg string) {
	p.l.Log(context.Background(), level, msg)
}

func (p iceLogger) logf(level slog.Level, format string, args ...any) {
	if !p.l.Enabled(context.Background(), level) {
		return
	}
	p.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (p iceLogger) Trace(msg string)                  { p.log(iceLevelTrace, msg) }
func (p iceLogger) Tracef(format string, args ...any) { p.logf(iceLevelTrace, format, args...) }
func (p iceLogger) Debug(msg string)                  { p.log(slog.LevelDebug, msg) }
func (p iceLogger) Debugf(format string, args ...any) { p.logf(slog.LevelDebug, format, args...) }

// pion's TURN server logs routine per-request events (a refused permission,
// a datagram without one) at info and error level; a relay open to the
// internet sees them all the time, so they are debug and info for ferry.
func (p iceLogger) Info(msg string)                   { p.log(slog.LevelDebug, msg) }
func (p iceLogger) Infof(format string, args ...any)  { p.logf(slog.LevelDebug, format, args...) }
func (p iceLogger) Warn(msg string)                   { p.log(slog.LevelInfo, msg) }
func (p iceLogger) Warnf(format string, args ...any)  { p.logf(slog.LevelInfo, format, args...) }
func (p iceLogger) Error(msg string)                  { p.log(slog.LevelInfo, msg) }
func (p iceLogger) Errorf(format string, args ...any) { p.logf(slog.LevelInfo, format, args...) }
