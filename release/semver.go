package release

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrVersion marks a version string that is not a semantic version.
var ErrVersion = errors.New("release: not a semantic version")

// semver is a parsed semantic version (semver.org 2.0.0) with a leading
// "v", as Go modules write them: vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD].
type semver struct {
	core [3]uint64
	pre  []string
}

// maxVersionLen bounds a version string.
const maxVersionLen = 128

func parseSemver(v string) (semver, error) {
	var s semver
	bad := func(why string) (semver, error) {
		return semver{}, fmt.Errorf("%w: %q: %s", ErrVersion, trunc(v), why)
	}
	if len(v) > maxVersionLen {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(v, "v")
	if !ok {
		return bad(`want vMAJOR.MINOR.PATCH, starting with "v"`)
	}
	rest, _, _ = strings.Cut(rest, "+") // build metadata does not count
	rest, pre, hasPre := strings.Cut(rest, "-")
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return bad("want three numbers MAJOR.MINOR.PATCH")
	}
	for i, p := range parts {
		n, err := number(p)
		if err != nil {
			return bad(err.Error())
		}
		s.core[i] = n
	}
	if hasPre {
		s.pre = strings.Split(pre, ".")
		for _, id := range s.pre {
			if !validIdent(id) {
				return bad("bad pre-release identifier")
			}
		}
	}
	return s, nil
}

// number parses a numeric identifier: digits, no leading zero.
func number(p string) (uint64, error) {
	if p == "" || (len(p) > 1 && p[0] == '0') || strings.Trim(p, "0123456789") != "" {
		return 0, errors.New("a number without leading zeros expected")
	}
	return strconv.ParseUint(p, 10, 64)
}

func validIdent(id string) bool {
	if id == "" {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// CheckVersion reports whether v is a semantic version vX.Y.Z[-pre][+build]
// (ErrVersion otherwise). "devel" is not one.
func CheckVersion(v string) error {
	_, err := parseSemver(v)
	return err
}

// Compare compares two semantic versions by precedence (semver.org §11):
// -1 if a is older than b, 0 if they rank equal, +1 if a is newer. Build
// metadata is ignored; a pre-release ranks below its release.
func Compare(a, b string) (int, error) {
	x, err := parseSemver(a)
	if err != nil {
		return 0, err
	}
	y, err := parseSemver(b)
	if err != nil {
		return 0, err
	}
	for i := range x.core {
		if c := cmp.Compare(x.core[i], y.core[i]); c != 0 {
			return c, nil
		}
	}
	switch {
	case len(x.pre) == 0 && len(y.pre) == 0:
		return 0, nil
	case len(x.pre) == 0:
		return 1, nil
	case len(y.pre) == 0:
		return -1, nil
	}
	for i := 0; i < len(x.pre) && i < len(y.pre); i++ {
		if c := comparePre(x.pre[i], y.pre[i]); c != 0 {
			return c, nil
		}
	}
	return cmp.Compare(uint64(len(x.pre)), uint64(len(y.pre))), nil
}

// comparePre compares two pre-release identifiers: numeric ones as
// numbers and below alphanumeric ones, which compare in ASCII order.
func comparePre(a, b string) int {
	na, errA := number(a)
	nb, errB := number(b)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(na, nb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}
