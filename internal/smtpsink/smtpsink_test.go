package smtpsink

import (
	"errors"
	netsmtp "net/smtp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestKeepAndRefuse: the sink keeps a message with its envelope and EHLO
// name and wakes the waiter; a message accept refuses is answered with
// its error and not kept.
func TestKeepAndRefuse(t *testing.T) {
	s := New(t, func(m Message) error {
		if slices.Contains(m.To, "no@relay.test") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "No"}
		}
		return nil
	})
	_, kept := s.Messages()
	if err := send(s.Addr, "a@b.test", "yes@relay.test", "Subject: hi\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	<-kept
	msgs, _ := s.Messages()
	if len(msgs) != 1 || msgs[0].From != "a@b.test" || !slices.Equal(msgs[0].To, []string{"yes@relay.test"}) ||
		msgs[0].Host != "client.test" || !strings.Contains(string(msgs[0].Data), "hello") {
		t.Fatalf("kept %+v", msgs)
	}
	err := send(s.Addr, "a@b.test", "no@relay.test", "Subject: no\r\n\r\nno\r\n")
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("refused message: %v", err)
	}
	if msgs, _ := s.Messages(); len(msgs) != 1 {
		t.Fatalf("%d messages kept after a refusal", len(msgs))
	}
	s.Reset()
	if msgs, _ := s.Messages(); len(msgs) != 0 {
		t.Fatalf("%d messages after Reset", len(msgs))
	}
}

// send sends one message from the EHLO name client.test.
func send(addr, from, to, msg string) error {
	c, err := netsmtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return errors.Join(w.Close(), c.Quit())
}
