package gateway

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// BounceMail is the Reason recorded with a mail to the bounce address: it
// is read as a bounce, recorded, and never answered.
const BounceMail Reason = "bounce"

// envelopeFrom is the MAIL FROM of a reply: <> without a bounce address,
// else bounce+<id>.<tag>@domain (VERP), which names exactly this reply.
func (g *Gateway) envelopeFrom(o *outbound) string {
	if g.cfg.EnvelopeSender == "" || o.tag == "" {
		return g.cfg.EnvelopeSender
	}
	local, domain := splitAddress(g.cfg.EnvelopeSender)
	return fmt.Sprintf("%s+%d.%s@%s", local, o.id, o.tag, domain)
}

// bounceRcpt reports whether rcpt is the bounce address or a VERP form
// of it, and returns the VERP suffix ("" for the bare address).
func (g *Gateway) bounceRcpt(rcpt string) (string, bool) {
	if g.cfg.EnvelopeSender == "" {
		return "", false
	}
	if sameAddress(rcpt, g.cfg.EnvelopeSender) {
		return "", true
	}
	local, domain := splitAddress(g.cfg.EnvelopeSender)
	l, d := splitAddress(rcpt)
	prefix := local + "+"
	if d != domain || len(l) <= len(prefix) || !strings.EqualFold(l[:len(prefix)], prefix) {
		return "", false
	}
	return l[len(prefix):], true
}

// isBounce reports whether a mail went to the bounce address (then it is
// a bounce, whatever else it is, and never answered).
func (g *Gateway) isBounce(env Envelope) bool {
	for _, r := range env.To {
		if _, ok := g.bounceRcpt(r); ok {
			return true
		}
	}
	return false
}

// parseBounceID splits "<outbox id>.<tag>"; ok is false if it is not that.
func parseBounceID(s string) (id int64, tag string, ok bool) {
	a, tag, found := strings.Cut(s, ".")
	id, err := strconv.ParseInt(a, 10, 64)
	if !found || err != nil || id <= 0 || len(tag) != 16 {
		return 0, "", false
	}
	return id, strings.ToLower(tag), true
}

// processBounce reads a mail to the bounce address, matches it to the
// reply its VERP address or ENVID names, and records it; it is never
// answered.
func (g *Gateway) processBounce(ctx context.Context, c *claimed) error {
	log := g.log.With("ref", c.ref)
	suffix := ""
	for _, r := range c.env.To {
		if s, ok := g.bounceRcpt(r); ok && s != "" {
			suffix = s
			break
		}
	}
	u := mailUpdate{state: StateIgnored, reason: BounceMail}
	bu := &bounceUpdate{}
	u.bounce = bu
	b, err := ParseBounce(c.raw)
	if err != nil {
		bu.note, u.result = err.Error(), "unreadable"
	} else {
		bu.report, u.result = b, b.String()
		if suffix == "" {
			suffix = b.EnvelopeID
		}
		var ok bool
		if bu.id, bu.tag, ok = parseBounceID(suffix); !ok {
			bu.note = "names no reply"
		}
	}
	if err := g.finish(ctx, c, u); err != nil {
		return err
	}
	if bu.matched {
		log.Info("gateway: bounce recorded", "reply", bu.id, "bounced", bu.bounced, "report", u.result)
	} else {
		log.Warn("gateway: bounce matches no reply; recorded and ignored", "note", bu.why, "report", u.result)
	}
	return nil
}
