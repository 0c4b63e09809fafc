package audit

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Since calls fn with every record of one of actions appended at from or
// later (by its Time), in Seq order, until fn returns an error, which
// Since then returns as is: what the consoles' charts count. Like Records,
// it does not verify the chain.
func (l *Log) Since(ctx context.Context, from time.Time, actions []string, fn func(Record) error) error {
	if len(actions) == 0 {
		return nil
	}
	args := []any{from.UnixNano()}
	marks := make([]string, len(actions))
	for i, a := range actions {
		args = append(args, a)
		marks[i] = "$" + strconv.Itoa(i+2)
	}
	return eachRecord(ctx, l.db, `WHERE at_ns >= $1 AND action IN (`+strings.Join(marks, ", ")+`) ORDER BY seq`, args, fn)
}
