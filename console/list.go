package console

import (
	"cmp"
	"net/url"
	"strconv"
)

// PageSize is how many rows a list shows at once.
const PageSize = 50

// Query is a page's query string: its filters ("sgc", "from") and which
// page of its list it shows ("p", from 1). Pages read it on the server:
// every list is paged and filtered there, never in the browser.
type Query struct{ url.Values }

// Window returns the page of the list the query asks for; its Total is
// set with Of once the page's Data has counted the list.
func (q Query) Window() Window { return q.WindowOf("p") }

// WindowOf is Window for a page's second list, whose page number is the
// field param ("gp") instead of "p"; its links keep the other list's.
func (q Query) WindowOf(param string) Window {
	n, err := strconv.Atoi(q.Get(param))
	if err != nil || n < 1 {
		n = 1
	}
	return Window{Number: n, Size: PageSize, query: q.Values, param: param}
}

// Window is one page of a list: the rows from Offset, at most Size of
// them, of Total. Its links keep the query's filters.
type Window struct {
	Number int // the page, from 1
	Size   int // rows on a page
	Total  int // rows in the whole (filtered) list
	query  url.Values
	param  string // the query's field of the page number
}

// Offset is the index of the page's first row.
func (w Window) Offset() int { return (w.Number - 1) * w.Size }

// Of returns w for a list of total rows; a page past the end becomes the
// last page.
func (w Window) Of(total int) Window {
	w.Total = total
	if last := w.Pages(); w.Number > last {
		w.Number = last
	}
	return w
}

// Pages is the number of pages (at least 1).
func (w Window) Pages() int { return max(1, (w.Total+w.Size-1)/w.Size) }

// First and Last are the 1-based numbers of the page's first and last
// rows (0 and 0 for an empty list).
func (w Window) First() int { return min(w.Offset()+1, w.Total) }

// Last is the 1-based number of the page's last row.
func (w Window) Last() int { return min(w.Offset()+w.Size, w.Total) }

// Prev and Next are the query strings of the pages before and after this
// one, with the same filters, or "" if there is none.
func (w Window) Prev() string {
	if w.Number <= 1 {
		return ""
	}
	return w.link(w.Number - 1)
}

// Next is the query string of the page after this one, or "".
func (w Window) Next() string {
	if w.Number >= w.Pages() {
		return ""
	}
	return w.link(w.Number + 1)
}

// link is the query string of page n.
func (w Window) link(n int) string {
	q := url.Values{}
	for k, v := range w.query {
		q[k] = v
	}
	q.Set(cmp.Or(w.param, "p"), strconv.Itoa(n))
	return "?" + q.Encode()
}

// Paged returns the rows of all that w shows, and w with its Total: for
// lists a component returns whole (its registers are small).
func Paged[T any](w Window, all []T) ([]T, Window) {
	w = w.Of(len(all))
	return all[w.Offset():min(w.Offset()+w.Size, len(all))], w
}
