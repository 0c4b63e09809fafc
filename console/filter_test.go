package console

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

// TestFilters: a list's filter fields are read strictly — a field sent
// twice, a number with a sign, too many digits or letters, a day not as
// YYYY-MM-DD, a last day before the first, a choice not offered — each an
// input error naming its field (answered 400), never guessed at.
func TestFilters(t *testing.T) {
	q := func(s string) Query {
		v, err := url.ParseQuery(s)
		if err != nil {
			t.Fatal(err)
		}
		return Query{v}
	}
	bad := func(what string, err error, field string) {
		t.Helper()
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s: %v, want an input error of %q", what, err, field)
		}
	}
	if n, ok, err := q("sgc=000123").Number("sgc", 6); n != 123 || !ok || err != nil {
		t.Errorf("sgc 000123: %d %v %v", n, ok, err)
	}
	if _, ok, err := q("").Number("sgc", 6); ok || err != nil {
		t.Errorf("no sgc: %v %v", ok, err)
	}
	for _, s := range []string{"sgc=1234567", "sgc=%2B1", "sgc=-1", "sgc=1a", "sgc=1&sgc=2", "sgc=%201"} {
		_, _, err := q(s).Number("sgc", 6)
		bad(s, err, "sgc")
	}
	from, until, err := q("from=2026-03-01&to=2026-03-01").Days()
	if err != nil || !from.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || !until.Equal(from.AddDate(0, 0, 1)) {
		t.Errorf("one day: %v %v %v", from, until, err)
	}
	if from, until, err := q("to=2026-03-01").Days(); !from.IsZero() || until.IsZero() || err != nil {
		t.Errorf("up to a day: %v %v %v", from, until, err)
	}
	_, _, err = q("from=2026-03-02&to=2026-03-01").Days()
	bad("to before from", err, "to")
	_, _, err = q("from=1.3.2026").Days()
	bad("a day not ISO", err, "from")
	_, _, err = q("to=2026-02-30").Days()
	bad("no such day", err, "to")
	if c, err := q("class=test").Choice("class", "credit", "test"); c != "test" || err != nil {
		t.Errorf("choice: %q %v", c, err)
	}
	_, err = q("class=other").Choice("class", "credit", "test")
	bad("a choice not offered", err, "class")
}
