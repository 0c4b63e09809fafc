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
