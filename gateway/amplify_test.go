package gateway

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/store"
)

// replyToField is a Reply-To field listing addrs, folded so that no line
// is over the SMTP limit.
func replyToField(addrs []string) string {
	var b strings.Builder
	b.WriteString("Reply-To: ")
	line := len("Reply-To: ")
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(",")
			line++
			if line+len(a) > 900 {
				b.WriteString("\r\n ")
				line = 1
			}
		}
		b.WriteString(a)
		line += len(a)
	}
	return b.String()
}

// crowd is n distinct addresses, each in a domain of its own.
func crowd(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("v%d@victim%d.test", i, i)
	}
	return out
}

// TestReplyRecipientsBounded: one mail never makes the gateway mail a
// crowd. A {KMS:Help} whose Reply-To lists thousands of addresses gets one
// Error ETooManyRecipients, to its envelope sender alone; up to
// MaxReplyRecipients distinct addresses are answered; duplicates count
// once. Asserted on what reaches the relay.
func TestReplyRecipientsBounded(t *testing.T) {
	if !strings.Contains(codeText(gwresult.ETooManyRecipients), " "+strconv.Itoa(MaxReplyRecipients)+" ") {
		t.Fatalf("the text of %s does not give the bound %d", gwresult.ETooManyRecipients, MaxReplyRecipients)
	}
	many := crowd(3000)
	for _, tc := range []struct {
		name    string
		replyTo []string
		rcpts   []string // of the one reply
		code    string   // of its result, "" for Success
	}{
		{"thousands", many, []string{"sender@example.net"}, gwresult.ETooManyRecipients},
		{"one over", many[:MaxReplyRecipients+1], []string{"sender@example.net"}, gwresult.ETooManyRecipients},
		{"at the bound", many[:MaxReplyRecipients], many[:MaxReplyRecipients], ""},
		{"duplicates", append(append([]string{}, many[:1]...), strings.Split(strings.Repeat(strings.ToUpper(many[0])+",", 2000), ",")[:2000]...),
			many[:1], ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(t *testing.T, db *store.DB) {
				h := newHarness(t, db, nil)
				h.requestFrom("sender@example.net", reqMail("", replyToField(tc.replyTo)))
				h.drain()
				msgs := h.sink.messages()
				if len(msgs) != 1 {
					t.Fatalf("%d messages reached the relay, want 1", len(msgs))
				}
				if !reflect.DeepEqual(msgs[0].To, tc.rcpts) {
					t.Errorf("reply to %d addresses %.80q, want %q", len(msgs[0].To), msgs[0].To, tc.rcpts)
				}
				r := readReply(t, msgs[0].Data)
				if r.result.Code != tc.code {
					t.Errorf("result %+v, want code %q", r.result, tc.code)
				}
				if tc.code == gwresult.ETooManyRecipients {
					if p := r.result.Params; !reflect.DeepEqual(p, []string{strconv.Itoa(len(tc.replyTo))}) {
						t.Errorf("params %q", p)
					}
					if q := h.queue(); q[0].Reason != string(TooManyRecipients) {
						t.Errorf("reason %q", q[0].Reason)
					}
				}
			})
		})
	}
}

// TestRequesterCharged: a requester who names a new Reply-To domain in
// every mail still spends its own budget, and is blocked when it is gone.
func TestRequesterCharged(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) {
			c.Limits = &Limits{Address: Limit{Every: time.Hour, Burst: 3}, Domain: Limit{Every: time.Hour, Burst: 3},
				MaxDefer: time.Minute, BlockFor: time.Hour, NoticesTotal: Limit{Every: time.Second, Burst: 100}}
		})
		victims := crowd(6)
		for i, v := range victims {
			h.request(helpN(i, "Reply-To: "+v))
		}
		h.drain()
		want := []string{"final #0", "final #1", "final #2", "Blocked #3"}
		if got := kinds(h.replies()); !reflect.DeepEqual(got, want) {
			t.Fatalf("replies %q, want %q", got, want)
		}
		blocks, err := h.gw.Queue().Blocks(context.Background())
		if err != nil || len(blocks) != 1 || blocks[0].Key != "addr:"+alice {
			t.Errorf("blocks %+v, %v; want the requester's", blocks, err)
		}
		if q := h.queue(); q[5].State != StateIgnored || q[5].Reason != string(BlockedSender) {
			t.Errorf("request after the block: %s %s", q[5].State, q[5].Reason)
		}
	})
}

// TestRecipientDomainCharged: each reply address takes a token of its
// domain's budget, so five recipients in one domain cost that domain five.
func TestRecipientDomainCharged(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) {
			c.Limits = &Limits{Domain: Limit{Every: time.Hour, Burst: 6}, MaxDefer: time.Minute, BlockFor: time.Hour,
				NoticesTotal: Limit{Every: time.Second, Burst: 100}}
		})
		same := []string{"a@victim.test", "b@victim.test", "c@victim.test", "d@victim.test", "e@victim.test"}
		h.request(helpN(0, replyToField(same)))
		h.requestFrom("bob@example.org", helpN(1, "From: bob@example.org",
			replyToField([]string{"f@victim.test", "g@victim.test"})))
		h.drain()
		if got := kinds(h.replies()); !reflect.DeepEqual(got, []string{"final #0", "Blocked #1"}) {
			t.Fatalf("replies %q", got)
		}
		blocks, err := h.gw.Queue().Blocks(context.Background())
		if err != nil || len(blocks) != 1 || blocks[0].Key != "domain:victim.test" {
			t.Errorf("blocks %+v, %v", blocks, err)
		}
	})
}

// TestLimitKeys: the requester's addresses are charged once each, every
// reply address once, and every reply domain once per reply address.
func TestLimitKeys(t *testing.T) {
	l := &Limits{}
	got := l.keys([]string{"prvs=1234=Alice@Example.com", "alice@example.com"},
		[]string{"alice@example.com", "bob@example.com", "carol@other.test"}, "V:1")
	type kn struct {
		key string
		n   int
	}
	var sum []kn
	for _, k := range got {
		sum = append(sum, kn{k.key, k.n})
	}
	in := &Inbound{Envelope: Envelope{From: "prvs=1234=Alice@Example.com"}, From: []string{"alice@example.com"}}
	if r := requesters(in); !reflect.DeepEqual(r, []string{"Alice@example.com"}) {
		t.Errorf("requesters %q", r)
	}
	want := []kn{{"addr:alice@example.com", 1}, {"addr:bob@example.com", 1}, {"addr:carol@other.test", 1},
		{"addr:prvs=1234=alice@example.com", 1}, {"domain:example.com", 2}, {"domain:other.test", 1}, {"module:V:1", 1}}
	if !reflect.DeepEqual(sum, want) {
		t.Errorf("keys %v\nwant %v", sum, want)
	}
}
