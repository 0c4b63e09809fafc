package keystore

// Test-only hooks for the external tests. None of this is in the package
// outside `go test`.

// File names, for tests that edit a store directory.
const (
	MetaFileName = metaFileName
	TestFileName = testFileName
	KeyFileExt   = keyFileExt
	TempPrefix   = tempPrefix
)

// ErrSimulatedCrash is what a write stopped by a crash hook returns.
var ErrSimulatedCrash = errSimulatedCrash

// CheapKDF is what tests use instead of DefaultKDF.
var CheapKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// UseCheapKDFForTests makes Init default to CheapKDF and lowers the floor
// of WithKDF to match. Call it from TestMain, before any test runs.
func UseCheapKDFForTests() {
	kdfDefault = CheapKDF
	kdfMinMemoryKiB, kdfMinWork = 8, 8
}

// LimitKDFForTests lowers the most a store file may ask Unlock to spend
// (so that fuzzed parameters stay cheap) and returns the undo. Not for
// parallel tests.
func LimitKDFForTests(max KDFParams) (restore func()) {
	old := kdfMax
	kdfMax = max
	return func() { kdfMax = old }
}

// WorkingKeysForTest returns the buffer holding the working keys itself,
// not a copy, so that a test can watch Lock clear it.
func (s *Sealed) WorkingKeysForTest() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys
}

// StorageKeyForTest recomputes the storage key of the store in dir.
func StorageKeyForTest(dir string, creds []Component) ([]byte, error) {
	m, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	pass, err := matchCreds(m, creds)
	if err != nil {
		return nil, err
	}
	return m.storageKey(pass)
}

// ScalarForTest returns the private scalar of key name.
func (s *Sealed) ScalarForTest(name string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kf, err := s.readKey(name)
	if err != nil {
		return nil, err
	}
	return s.openScalar(kf)
}

// CrashWritesForTest makes every later file write of s stop between the
// temporary file and the rename, as a crash would (on = false undoes it).
func (s *Sealed) CrashWritesForTest(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crash = nil
	if on {
		s.crash = func(string) error { return errSimulatedCrash }
	}
}

// CrashInitForTest makes Init and InitTest stop, as by a crash, before the
// rename of the file called final, and returns the undo. Not for parallel
// tests.
func CrashInitForTest(final string) (restore func()) {
	initCrashHook = func(name string) error {
		if name == final {
			return errSimulatedCrash
		}
		return nil
	}
	return func() { initCrashHook = nil }
}

// WriteFileAtomicForTest is the atomic write of the store, optionally
// stopped before the rename as by a crash.
func WriteFileAtomicForTest(dir, name string, data []byte, crash bool) error {
	var hook crashHook
	if crash {
		hook = func(string) error { return errSimulatedCrash }
	}
	return writeFileAtomic(dir, name, data, hook)
}

// RemoveTempsForTest is what Unlock does with a crash's leftovers.
func RemoveTempsForTest(dir string) error { return removeTemps(dir) }
