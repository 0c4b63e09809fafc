package audit

import (
	"context"
	"fmt"
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
	rows, err := l.db.Query(ctx, selectRecords+`WHERE at_ns >= $1 AND action IN (`+strings.Join(marks, ", ")+`) ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("audit: failed to read records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Record
		if err := scanRecord(rows, &r); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: failed to read records: %w", err)
	}
	return nil
}
