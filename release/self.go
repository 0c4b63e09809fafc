package release

import (
	"errors"
	"fmt"
	"os"
)

// ErrUnsigned is the refusal of a component configured to run signed
// releases only (Policy.RequireSigned) when the running binary is not
// one.
var ErrUnsigned = errors.New("release: not a signed release")

// Policy is how a module or KMC treats the binary that opens it
// (configured with --release-manifest, --release-key and
// --require-signed-release; docs/release.md).
type Policy struct {
	// Manifest and PublicKey are the files of the release manifest and of
	// the release public key. Without them the binary is an unsigned
	// development build.
	Manifest, PublicKey string
	// RequireSigned refuses to open the component unless the running
	// executable is listed in the manifest, whose signature verifies,
	// with the version it was built as.
	RequireSigned bool
	// AllowDowngrade lets a binary older than the component's version
	// floor open it, lowering the floor (the audited, dual-control
	// override of `stskms sm downgrade` and `stskms kmc downgrade`).
	AllowDowngrade bool
	// Version is the running binary's version; "" means Version. (Tests
	// set it to play an older or newer binary.)
	Version string
	// Executable is the running binary's file; "" means os.Executable.
	Executable string
}

// RunningVersion returns p.Version, or Version if it is empty.
func (p Policy) RunningVersion() string {
	if p.Version != "" {
		return p.Version
	}
	return Version
}

// Status says whether the running binary is a signed release.
type Status struct {
	// Signed is true for a binary listed in a manifest whose signature
	// verifies with the configured key, built as the manifest's version.
	Signed bool `json:"signed"`
	// Version is the running binary's version.
	Version string `json:"version"`
	// KeyID is the release key that signed it (when Signed).
	KeyID string `json:"key_id,omitempty"`
	// Problem says why a binary given a manifest is not signed by it.
	Problem string `json:"problem,omitempty"`
}

// String is what the self-test reports: "signed release v1.2.3 (release
// key 3f1c…)", "unsigned development build", or "unsigned build devel:
// WHY" when a manifest was given but does not vouch for the binary.
func (s Status) String() string {
	switch {
	case s.Signed:
		return fmt.Sprintf("signed release %s (release key %s)", s.Version, s.KeyID)
	case s.Problem == "":
		return "unsigned development build"
	}
	return fmt.Sprintf("unsigned build %s: %s", s.Version, s.Problem)
}

// Check hashes the running executable and checks it against the
// configured manifest. It needs no manifest: without one the binary is an
// unsigned development build. With RequireSigned, anything but a signed
// release is an error wrapping ErrUnsigned, which names the problem.
func (p Policy) Check() (Status, error) {
	st := Status{Version: p.RunningVersion()}
	if p.Manifest != "" || p.PublicKey != "" {
		if err := p.verify(&st); err != nil {
			st.Problem = err.Error()
		}
	}
	if p.RequireSigned && !st.Signed {
		why := st.Problem
		if why == "" {
			why = "no release manifest and release key configured (--release-manifest, --release-key)"
		}
		return st, fmt.Errorf("%w: %s: this component is configured to run signed releases only (require-signed-release)", ErrUnsigned, why)
	}
	return st, nil
}

func (p Policy) verify(st *Status) error {
	if p.Manifest == "" || p.PublicKey == "" {
		return errors.New("give both the release manifest and the release public key")
	}
	pub, err := ReadPublicKey(p.PublicKey)
	if err != nil {
		return err
	}
	data, err := readSmall(p.Manifest, maxManifest)
	if err != nil {
		return err
	}
	m, err := ParseManifest(data, pub)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Manifest, err)
	}
	exe := p.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("cannot find the running executable: %w", err)
		}
	}
	sum, err := HashFile(exe)
	if err != nil {
		return err
	}
	if _, ok := m.Lookup(sum); !ok {
		return fmt.Errorf("%w: the manifest of %s does not list this executable (SHA-256 %x)", ErrNotListed, m.Version, sum)
	}
	if m.Version != st.Version {
		return fmt.Errorf("the manifest lists this executable as %s, but it was built as %s", m.Version, st.Version)
	}
	st.Signed, st.KeyID = true, m.KeyID
	return nil
}
