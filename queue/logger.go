package queue

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"
)

// asynqLogger adapts a *slog.Logger to asynq's Logger interface, so asynq's
// own messages (start, shutdown, Redis trouble) go where herald's logs go,
// tagged component=asynq. asynq logs task IDs, never payloads; herald's
// task IDs are made of IDs only.
type asynqLogger struct{ l *slog.Logger }

var _ asynq.Logger = asynqLogger{}

func (a asynqLogger) log(level slog.Level, args []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, fmt.Sprint(args...), "component", "asynq")
}

func (a asynqLogger) Debug(args ...any) { a.log(slog.LevelDebug, args) }
func (a asynqLogger) Info(args ...any)  { a.log(slog.LevelInfo, args) }
func (a asynqLogger) Warn(args ...any)  { a.log(slog.LevelWarn, args) }
func (a asynqLogger) Error(args ...any) { a.log(slog.LevelError, args) }

// Fatal logs at error level and, unlike asynq's default logger, does not
// end the process: a library must not exit under herald's feet, and asynq
// v0.26 never calls Fatal.
func (a asynqLogger) Fatal(args ...any) { a.log(slog.LevelError, args) }

// asynqLevel is the lowest asynq level l's handler would print, so asynq
// does not format messages that slog would drop.
func asynqLevel(l *slog.Logger) asynq.LogLevel {
	ctx := context.Background()
	switch {
	case l.Enabled(ctx, slog.LevelDebug):
		return asynq.DebugLevel
	case l.Enabled(ctx, slog.LevelInfo):
		return asynq.InfoLevel
	case l.Enabled(ctx, slog.LevelWarn):
		return asynq.WarnLevel
	}
	return asynq.ErrorLevel
}
