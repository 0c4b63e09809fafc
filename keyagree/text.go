package keyagree

import (
	"fmt"
	"strconv"
)

// checkText reports whether s is non-empty printable ASCII (0x20–0x7E), the
// character set of every record (kms-records.md §3.1). With noBar it also
// refuses "|", so that an identifier or time placed between "|" separators
// of an HKDF info string cannot shift the separators (domain separation).
// With endBar it requires s to end with "|": signed text and AAD run
// through the "|" before the protected field. Errors name the argument and
// the offending position, never the text.
func checkText(what, s string, noBar, endBar bool) error {
	if reason := badText(s, noBar, endBar); reason != "" {
		return fmt.Errorf("%w: %s %s", ErrField, what, reason)
	}
	return nil
}

// badText is checkText without allocation: "" if s is acceptable, else the
// reason it is not.
func badText(s string, noBar, endBar bool) string {
	if s == "" {
		return "is empty"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7E {
			return "has a non-printable byte at offset " + strconv.Itoa(i)
		}
		if noBar && c == '|' {
			return "contains \"|\" at offset " + strconv.Itoa(i)
		}
	}
	if endBar && s[len(s)-1] != '|' {
		return "does not end with \"|\""
	}
	return ""
}

// checkIDs checks the SMID, KMCID and t_req that go into an HKDF info.
func checkIDs(smid, kmcid, tReq string) error {
	if err := checkText("SMID", smid, true, false); err != nil {
		return err
	}
	if err := checkText("KMCID", kmcid, true, false); err != nil {
		return err
	}
	return checkText("t_req", tReq, true, false)
}

// checkLen returns ErrLength unless len(b) == n.
func checkLen(what string, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("%w: %s is %d bytes, want %d", ErrLength, what, len(b), n)
	}
	return nil
}
