package audit

import "time"

// SetClock makes l read the time from now.
func SetClock(l *Log, now func() time.Time) { l.now = now }
