package console

import (
	"strconv"
	"time"
)

// DateLayout is how the console's date fields are written: a day, UTC.
const DateLayout = "2006-01-02"

// One returns the one value of a filter field ("" if absent); a field
// sent twice is refused, not guessed at.
func (q Query) One(field string) (string, error) {
	switch len(q.Values[field]) {
	case 0:
		return "", nil
	case 1:
		return q.Values[field][0], nil
	}
	return "", BadInput(field, "sent more than once")
}

// Number reads a field of 1 to digits decimal digits; ok is false if the
// field is empty.
func (q Query) Number(field string, digits int) (n uint64, ok bool, err error) {
	s, err := q.One(field)
	if err != nil || s == "" {
		return 0, false, err
	}
	n, err = strconv.ParseUint(s, 10, 64)
	if err != nil || len(s) > digits {
		return 0, false, BadInput(field, "want 1 to "+strconv.Itoa(digits)+" digits")
	}
	return n, true, nil
}

// Day reads a day as YYYY-MM-DD, its start in UTC; zero if empty.
func (q Query) Day(field string) (time.Time, error) {
	s, err := q.One(field)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, BadInput(field, "want a date as YYYY-MM-DD (UTC)")
	}
	return t, nil
}

// Days reads the days of the fields "from" and "to" (both included, UTC)
// as the times from ≤ t < until; a zero bound is open.
func (q Query) Days() (from, until time.Time, err error) {
	if from, err = q.Day("from"); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if until, err = q.Day("to"); err != nil || until.IsZero() {
		return from, time.Time{}, err
	}
	until = until.AddDate(0, 0, 1)
	if !from.IsZero() && !from.Before(until) {
		return time.Time{}, time.Time{}, BadInput("to", "the last day is before the first")
	}
	return from, until, nil
}

// Choice reads a field that is empty or one of allowed.
func (q Query) Choice(field string, allowed ...string) (string, error) {
	s, err := q.One(field)
	if err != nil || s == "" {
		return "", err
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", BadInput(field, "not one of the choices offered")
}
