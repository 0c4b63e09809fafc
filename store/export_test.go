package store

import "time"

// SetRetryPolicy sets Tx's retry policy for a test and returns a function
// that restores it. Tests that use it must not run in parallel.
func SetRetryPolicy(attempts int, base, max time.Duration) (restore func()) {
	a, b, m := maxAttempts, backoffBase, backoffMax
	maxAttempts, backoffBase, backoffMax = attempts, base, max
	return func() { maxAttempts, backoffBase, backoffMax = a, b, m }
}

// MaxAttempts is Tx's bound on runs of its function.
func MaxAttempts() int { return maxAttempts }

// SetStmtCache turns db's cache of prepared statements on (as on SQLite,
// whichever db's dialect) or off, for a test or benchmark that compares the
// two. Call it before db is used concurrently.
func SetStmtCache(db *DB, on bool) {
	db.stmts.close()
	db.stmts = nil
	if on {
		db.stmts = newStmtCache(db.sql, db.dialect)
	}
}

// StmtCacheLen reports how many prepared statements db keeps.
func StmtCacheLen(db *DB) int { return db.stmts.len() }

// StmtCacheSize is the bound on StmtCacheLen.
const StmtCacheSize = stmtCacheSize
