package sm

// SetFailTests makes the named self-tests fail until restore is called.
func SetFailTests(names ...string) (restore func()) {
	old := failTests
	failTests = map[string]bool{}
	for _, n := range names {
		failTests[n] = true
	}
	return func() { failTests = old }
}
