// Package release is what stskms knows of its own build (STS 600-10-1
// §4.2 B3 and B4): the version it was built as, its build information,
// signed release manifests, the check of the running executable against
// one, and the anti-rollback version floor each component keeps in its
// database.
//
// A release is built with
//
//	go build -trimpath -ldflags "-X github.com/stskms/stskms/release.Version=v1.2.3" ./cmd/stskms
//
// and signed with `stskms release sign`: a manifest (docs/release.md) of
// the SHA-256 of each binary and the release's version, signed with an
// Ed25519 release key kept offline. A build not given a version reports
// "devel" (Devel); a binary the configured manifest does not list is
// reported as unsigned.
package release
