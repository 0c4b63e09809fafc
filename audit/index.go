package audit

import "github.com/stskms/stskms/store"

// indexMigration indexes the log by action and time. The activity charts,
// /metrics and the lists of tokens and refusals read the records of a few
// actions from a time on (Since; sm's Issues and IssueCounts): without the
// index each such read scans the whole log, which grows by every token.
var indexMigration = store.Migration{
	Version: 3,
	Name:    "index of the records by action and time",
	SQL:     `CREATE INDEX audit_log_action_at ON audit_log (action, at_ns)`,
}
