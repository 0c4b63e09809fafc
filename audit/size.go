package audit

import "context"

// Size returns the number of records in the log, as its head says (one
// read; Check checks the head).
func (l *Log) Size(ctx context.Context) (int64, error) {
	h, err := l.readHead(ctx)
	return h.seq, err
}
