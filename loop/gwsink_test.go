package loop_test

import (
	"bytes"
	"context"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/internal/smtpsink"
	"github.com/stskms/stskms/smmail"
)

// relayMsg is one message the sink relay took: the gateway's reply.
type relayMsg struct {
	raw       []byte
	messageID string // the reply's own
	inReplyTo string // the request's Message-ID
	reply     *smmail.Reply
}

// relaySink is a real SMTP server standing for the gateway's relay: it
// keeps every message it is given.
type relaySink struct{ *smtpsink.Sink }

func newRelaySink(t testing.TB) *relaySink {
	t.Helper()
	return &relaySink{smtpsink.New(t, nil, func(srv *smtp.Server, _ *smtpsink.Sink) {
		srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	})}
}

// all returns the messages so far and a channel closed by the next one.
func (s *relaySink) all() ([]relayMsg, <-chan struct{}) {
	kept, changed := s.Messages()
	msgs := make([]relayMsg, len(kept))
	for i, k := range kept {
		msgs[i] = readRelayMsg(k.Data)
	}
	return msgs, changed
}

// readRelayMsg reads what the tests look at in a message of the relay.
func readRelayMsg(raw []byte) relayMsg {
	m := relayMsg{raw: raw}
	if h, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.messageID = strings.TrimSpace(h.Header.Get("Message-ID"))
		m.inReplyTo = strings.TrimSpace(h.Header.Get("In-Reply-To"))
	}
	m.reply, _ = smmail.ParseReply(raw)
	return m
}

// wait returns the first message for which match is true, failing t if
// none comes before ctx ends.
func (s *relaySink) wait(ctx context.Context, t testing.TB, match func(relayMsg) bool) relayMsg {
	t.Helper()
	for {
		msgs, changed := s.all()
		for _, m := range msgs {
			if match(m) {
				return m
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no such reply at the relay: %v (%d messages there)", ctx.Err(), len(msgs))
		}
	}
}

type silent struct{}

func (silent) Printf(string, ...any) {}
func (silent) Println(...any)        {}
