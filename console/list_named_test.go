package console

import (
	"net/url"
	"testing"
)

// TestWindowOf: a page's second list pages by its own field, and the links
// of each list keep the other's page and the filters.
func TestWindowOf(t *testing.T) {
	q := Query{url.Values{"p": {"2"}, "gp": {"3"}, "sgc": {"1"}}}
	groups, gw := Paged(q.WindowOf("gp"), make([]int, 160))
	_, kw := Paged(q.Window(), make([]int, 120))
	if len(groups) != 50 || gw.Number != 3 || gw.Prev() != "?gp=2&p=2&sgc=1" || gw.Next() != "?gp=4&p=2&sgc=1" {
		t.Errorf("groups: %d rows, page %d, prev %q next %q", len(groups), gw.Number, gw.Prev(), gw.Next())
	}
	if kw.Number != 2 || kw.Next() != "?gp=3&p=3&sgc=1" {
		t.Errorf("keys: page %d, next %q", kw.Number, kw.Next())
	}
}
