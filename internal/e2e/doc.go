// Package e2e holds the end-to-end tests that cross the rooms of the
// design (docs/design.md §2): a security module (package sm) meeting a
// KMC (packages kmc and kmc/api). Tests of a room import no other room,
// so such a test lives here, with the test that keeps the doors one-way
// (TestDoors). The package has no code of its own.
package e2e
