package console

import (
	"net/url"
	"testing"
)

// TestWindow: a list pages from 1, a page past the end is the last, bad
// page numbers are the first, and links keep the filters.
func TestWindow(t *testing.T) {
	rows := make([]int, 120)
	for i := range rows {
		rows[i] = i
	}
	for _, c := range []struct {
		p           string
		first, last int
		prev, next  string
	}{
		{"", 1, 50, "", "?p=2&sgc=123456"},
		{"2", 51, 100, "?p=1&sgc=123456", "?p=3&sgc=123456"},
		{"3", 101, 120, "?p=2&sgc=123456", ""},
		{"99", 101, 120, "?p=2&sgc=123456", ""},
		{"-1", 1, 50, "", "?p=2&sgc=123456"},
		{"x", 1, 50, "", "?p=2&sgc=123456"},
	} {
		q := Query{url.Values{"p": {c.p}, "sgc": {"123456"}}}
		got, w := Paged(q.Window(), rows)
		if w.First() != c.first || w.Last() != c.last || len(got) != c.last-c.first+1 || got[0] != c.first-1 ||
			w.Prev() != c.prev || w.Next() != c.next || w.Pages() != 3 {
			t.Errorf("p=%q: rows %d..%d (%d), prev %q next %q", c.p, w.First(), w.Last(), len(got), w.Prev(), w.Next())
		}
	}
	got, w := Paged(Query{url.Values{}}.Window(), []int(nil))
	if len(got) != 0 || w.First() != 0 || w.Last() != 0 || w.Pages() != 1 || w.Next() != "" {
		t.Errorf("empty list: %v %+v", got, w)
	}
}
