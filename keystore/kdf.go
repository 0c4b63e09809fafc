package keystore

import (
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDFParams are the Argon2id (RFC 9106) parameters that turn an officer's
// passphrase into the key protecting that officer's component. Each
// component records its own, so stores made with other parameters keep
// unlocking.
type KDFParams struct {
	Time      uint32 // passes over the memory
	MemoryKiB uint32 // memory, in KiB
	Threads   uint8  // lanes (parallelism)
}

// DefaultKDF returns the parameters Init uses unless told otherwise: t=3,
// m=64 MiB, p=4, the second recommended option of RFC 9106 §4 (well above
// the OWASP Password Storage Cheat Sheet minimum). On a 2-core development
// machine one derivation takes about 60 ms, so an unlock with two officers
// costs about an eighth of a second, once, at start-up
// (BenchmarkUnlockProductionKDF).
func DefaultKDF() KDFParams { return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4} }

// Sizes of the values around a component.
const (
	saltSize  = 16 // Argon2id salt, random per component
	keySize   = 32 // storage key, components, Argon2id output, working keys
	nonceSize = 12 // AES-GCM nonce
	tagSize   = 16 // AES-GCM tag
)

// The floor below which WithKDF refuses parameters, after the OWASP
// Password Storage Cheat Sheet's Argon2id settings, which trade memory
// against passes (m=46 MiB t=1 … m=7 MiB t=5): at least 7 MiB, and
// Time×MemoryKiB at least 36 Mi. Variables so that tests can lower them.
var (
	kdfMinMemoryKiB uint64 = 7 << 10
	kdfMinWork      uint64 = 36 << 10
)

// kdfDefault is what Init uses without WithKDF; a variable so that tests
// run with cheap parameters.
var kdfDefault = DefaultKDF()

// kdfTestMode protects the components of a test store. Its passphrases sit
// beside it in the clear, so a costly KDF would protect nothing; these
// values only keep the format the same.
var kdfTestMode = KDFParams{Time: 1, MemoryKiB: 256, Threads: 1}

// kdfMax bounds what a store file may ask Unlock to spend, so that a
// damaged or hostile keystore.json cannot exhaust memory or time: 2 GiB
// (RFC 9106's first option), 64 passes, 64 lanes. A variable so that the
// fuzz target can lower it.
var kdfMax = KDFParams{Time: 64, MemoryKiB: 2 << 20, Threads: 64}

// checkLimits: parameters Argon2id accepts and within kdfMax.
func (p KDFParams) checkLimits() error {
	switch {
	case p.Time < 1 || p.Threads < 1:
		return fmt.Errorf("%w: time and threads must be at least 1", ErrKDFParams)
	case uint64(p.MemoryKiB) < 8*uint64(p.Threads):
		return fmt.Errorf("%w: memory must be at least 8 KiB per thread", ErrKDFParams)
	case p.Time > kdfMax.Time || p.MemoryKiB > kdfMax.MemoryKiB || p.Threads > kdfMax.Threads:
		return fmt.Errorf("%w: above the limit t=%d m=%d KiB p=%d", ErrKDFParams, kdfMax.Time, kdfMax.MemoryKiB, kdfMax.Threads)
	}
	return nil
}

// checkFloor: checkLimits, and not weaker than the floor.
func (p KDFParams) checkFloor() error {
	if err := p.checkLimits(); err != nil {
		return err
	}
	if uint64(p.MemoryKiB) < kdfMinMemoryKiB || uint64(p.Time)*uint64(p.MemoryKiB) < kdfMinWork {
		return fmt.Errorf("%w: weaker than the floor (m ≥ %d KiB and t×m ≥ %d)", ErrKDFParams, kdfMinMemoryKiB, kdfMinWork)
	}
	return nil
}

// deriveKEK returns the 32-byte key protecting one component. The caller
// clears it.
func deriveKEK(passphrase, salt []byte, p KDFParams) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, keySize)
}

// Option changes how Init makes a store.
type Option func(*initOptions) error

type initOptions struct {
	kdf KDFParams
}

// WithKDF makes Init protect the components with p instead of DefaultKDF.
// p must not be weaker than the OWASP-derived floor (ErrKDFParams): use it
// to spend more on a large machine, or somewhat less on a small one.
func WithKDF(p KDFParams) Option {
	return func(o *initOptions) error {
		if err := p.checkFloor(); err != nil {
			return err
		}
		o.kdf = p
		return nil
	}
}
