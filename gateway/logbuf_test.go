package gateway

import (
	"log/slog"

	"github.com/stskms/stskms/internal/syncbuf"
)

// logBuffer collects what a gateway logs, for tests that read its log.
type logBuffer struct{ syncbuf.Buffer }

// logger logs warnings and worse into b, as JSON lines.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
