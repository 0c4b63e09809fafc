package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
)

// Run processes request mail and sends replies until ctx ends, with
// Config.Workers processing and Config.Senders sending workers. While it
// runs the process is registered with a heartbeat (process.go), so that
// its claims are taken over within seconds if it dies, and finished mail
// is pruned after Config.Retain (retention.go). It returns ctx's error,
// or why it could not start.
func (g *Gateway) Run(ctx context.Context) error {
	if g.kmc == nil || g.sender == nil {
		return ErrNotConfigured
	}
	if err := g.q.register(ctx); err != nil {
		return fmt.Errorf("gateway: failed to register the process: %w", err)
	}
	defer g.q.deregister()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); g.q.heartbeat(ctx) }()
	go func() { defer wg.Done(); g.retain(ctx) }()
	loop := func(s *signal, step func(context.Context) (bool, error)) {
		defer wg.Done()
		for ctx.Err() == nil {
			wake := s.wait()
			did, err := step(ctx)
			if err != nil && ctx.Err() == nil {
				g.log.Error("gateway: step failed", "err", err)
			}
			if did && err == nil {
				continue
			}
			t := time.NewTimer(g.cfg.PollInterval)
			select {
			case <-ctx.Done():
			case <-wake:
			case <-t.C:
			}
			t.Stop()
		}
	}
	for range g.cfg.Workers {
		wg.Add(1)
		go loop(&g.q.mailReady, g.ProcessNext)
	}
	for range g.cfg.Senders {
		wg.Add(1)
		go loop(&g.q.outReady, g.SendNext)
	}
	wg.Wait()
	return ctx.Err()
}

// ProcessNext processes the next due request mail, if any, and reports
// whether there was one. Run calls it in a loop; tests call it directly.
func (g *Gateway) ProcessNext(ctx context.Context) (bool, error) {
	if g.kmc == nil {
		return false, ErrNotConfigured
	}
	c, err := g.q.claim(ctx)
	if err != nil || c == nil {
		return false, err
	}
	if err := g.at("claimed"); err != nil {
		return true, err
	}
	err = g.process(ctx, c)
	if errors.Is(err, errLostClaim) {
		g.log.Warn("gateway: claim lost; another worker took the mail over", "ref", c.ref)
		return true, nil
	}
	return true, err
}

// job is a request made ready for its service.
type job struct {
	request string           // GetKlfStsEd2: the one-line VKLOAD.REQ.1
	module  string           // GetKlfStsEd2: "vendor:id" of its SMID, if it parses
	file    *Attachment      // SmUpdateStsEd2: the update file
	fail    *gwresult.Result // a final error found while preparing
}

// outcome is what a service produced.
type outcome struct {
	result gwresult.Result
	body   string
	file   *replyFile
}

// process takes a claimed mail through its steps: give up after too many
// attempts, hand a bounce to processBounce, else admit the request
// (policy, authentication, blocks and rate limits), execute its service
// and finish with the reply. A panic fails this attempt, not the worker.
func (g *Gateway) process(ctx context.Context, c *claimed) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("gateway: panic processing %s: %v", c.ref, p)
		}
	}()
	if c.tries > int64(g.cfg.MaxAttempts) {
		g.log.With("ref", c.ref).Error("gateway: giving up: processing kept failing", "attempts", c.tries)
		return g.finish(ctx, c, mailUpdate{state: StateFailed, reason: ExhaustedAttempts})
	}
	if g.isBounce(c.env) {
		return g.processBounce(ctx, c)
	}
	p := g.read(c)
	if done, err := g.admit(ctx, p); done || err != nil {
		return err
	}
	return g.executeAndReply(ctx, p)
}

// processing is a claimed request mail on its way through process.
type processing struct {
	c   *claimed
	log *slog.Logger
	in  *Inbound
	d   Decision
	j   job        // set by admit if the policy found no final result
	u   mailUpdate // the mail's update, filled step by step
	now time.Time  // when admit read the clock
}

// read parses the claimed mail and applies the policy to it.
func (g *Gateway) read(c *claimed) *processing {
	in := ParseMessage(c.env, c.raw, c.size, c.trunc)
	d := Decide(in, &g.policy)
	p := &processing{c: c, log: g.log.With("ref", c.ref), in: in, d: d, u: mailUpdate{reason: d.Reason, admitted: c.admitted}}
	if d.Service != nil {
		p.u.service = d.Service.Name
	}
	return p
}

// admit decides whether the request is served now. It finishes the mail
// (done) if the policy ignores it or its sender is not authenticated,
// prepares its job, and, unless it was admitted before, applies the
// blocks and rate limits (limit).
func (g *Gateway) admit(ctx context.Context, p *processing) (done bool, err error) {
	if p.d.Action == Ignore {
		p.log.Info("gateway: ignored", "reason", p.d.Reason, "from", p.c.env.From)
		p.u.state = StateIgnored
		return true, g.finish(ctx, p.c, p.u)
	}
	auth := g.auth.authenticate(ctx, p.c, p.in)
	p.u.auth = auth.String()
	if !auth.acceptable(g.cfg.Auth) {
		p.log.Info("gateway: ignored: sender not authenticated", "auth", auth.String())
		p.u.state, p.u.reason = StateIgnored, NotAuthenticated
		return true, g.finish(ctx, p.c, p.u)
	}
	if p.d.Result == nil {
		p.j = g.prepare(p.in, p.d)
	}
	p.now = g.now()
	if p.c.admitted {
		// A request deferred before a block is still served: its notice
		// promised it.
		return false, nil
	}
	return g.limit(ctx, p)
}

// limit applies the blocks and rate limits to a request not admitted
// before: a blocked sender is ignored, one over a limit is blocked (with
// one Blocked notice, if the notice limits allow), one within a limit's
// delay is deferred (done, in all three); any other is admitted.
func (g *Gateway) limit(ctx context.Context, p *processing) (done bool, err error) {
	keys := g.cfg.Limits.keys(requesters(p.in), p.d.To, p.j.module)
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.key
	}
	until, key, err := g.q.activeBlock(ctx, names)
	if err != nil {
		return true, err
	}
	if !until.IsZero() {
		p.log.Info("gateway: ignored: blocked", "key", key, "until", until)
		p.u.state, p.u.reason = StateIgnored, BlockedSender
		return true, g.finish(ctx, p.c, p.u)
	}
	delay, over, err := g.q.admitRate(ctx, g.limits, p.c, p.now, keys)
	if err != nil {
		return true, err
	}
	if over != "" {
		return true, g.block(ctx, p, over)
	}
	p.u.admitted = true
	if delay > 0 {
		next := p.now.Add(delay)
		p.log.Info("gateway: deferred: rate limit", "until", next)
		p.u.limited = "deferred"
		return true, g.deferMail(ctx, p.c, p.in, p.d, p.u, next,
			"Too many requests: yours will be processed at the time given; you don't need to do anything")
	}
	return false, nil
}

// block blocks the key that went over its limit for Limits.BlockFor,
// ignores the mail and answers it with a Blocked notice if the notice
// limits allow.
func (g *Gateway) block(ctx context.Context, p *processing, over string) error {
	until := p.now.Add(g.cfg.Limits.BlockFor)
	p.log.Warn("gateway: blocking", "key", over, "until", until)
	p.u.state, p.u.reason = StateIgnored, BlockedSender
	p.u.block = &blockRecord{key: over, until: until, reason: "rate limit"}
	if ok, err := g.q.admitNotice(ctx, g.limits, p.now, p.d.To[0]); err != nil {
		return err
	} else if ok {
		r := gwresult.Result{Kind: gwresult.Notice, Code: gwresult.Blocked, Text: codeText(gwresult.Blocked),
			Params: []string{stamp(until)}}
		if err := g.addReply(&p.u, p.c, p.in, p.d.To, kindBlocked, r, noticeBody(r, p.d), nil); err != nil {
			return err
		}
	}
	return g.finish(ctx, p.c, p.u)
}

// executeAndReply runs the admitted request's service and finishes the
// mail with the reply. A transient failure defers the mail with a
// Deferred notice until the attempts are spent, then answers EInternal.
func (g *Gateway) executeAndReply(ctx context.Context, p *processing) error {
	out, err := g.execute(ctx, p.c, p.in, p.d, p.j)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if p.c.tries < int64(g.cfg.MaxAttempts) {
			next := p.now.Add(g.backoff(p.c.tries))
			p.log.Warn("gateway: deferred: transient failure", "err", err, "attempt", p.c.tries, "next", next)
			return g.deferMail(ctx, p.c, p.in, p.d, p.u, next, "Processing failed but will be retried; you don't need to do anything")
		}
		p.log.Error("gateway: transient failures exhausted the attempts", "err", err, "attempt", p.c.tries)
		out = errorOutcome(errorResult(gwresult.EInternal), p.d)
	}
	if err := g.at("executed"); err != nil {
		return err
	}
	p.u.state, p.u.result = StateReplied, out.result.Header()
	if err := g.addReply(&p.u, p.c, p.in, p.d.To, kindFinal, out.result, out.body, out.file); err != nil {
		return err
	}
	if err := g.finish(ctx, p.c, p.u); err != nil {
		return err
	}
	p.log.Info("gateway: replied", "service", p.u.service, "result", resultCode(out.result),
		"latency_ms", g.now().Sub(p.c.env.Received).Milliseconds())
	return nil
}

// deferMail puts a claimed mail back, due at next, with one Deferred
// notice per request (if the notice limits allow).
func (g *Gateway) deferMail(ctx context.Context, c *claimed, in *Inbound, d Decision, u mailUpdate, next time.Time, msg string) error {
	u.state, u.next = StateReceived, next
	ok, err := !c.deferred, error(nil)
	if ok {
		ok, err = g.q.admitNotice(ctx, g.limits, g.now(), d.To[0])
	}
	if err != nil {
		return err
	}
	if ok {
		r := gwresult.Result{Kind: gwresult.Notice, Code: gwresult.Deferred, Text: msg, Params: []string{stamp(next)}}
		u.result = r.Header()
		if err := g.addReply(&u, c, in, d.To, kindDeferred, r, noticeBody(r, d), nil); err != nil {
			return err
		}
	}
	return g.finish(ctx, c, u)
}

// addReply composes a reply and adds it to u.
func (g *Gateway) addReply(u *mailUpdate, c *claimed, in *Inbound, to []string, kind string, r gwresult.Result, body string, file *replyFile) error {
	id := fmt.Sprintf("%s.%s.%d@%s", c.ref, kind, g.now().UnixNano(), g.cfg.Hostname)
	data, err := composeReply(&replyMail{
		From: g.from, To: to, Subject: in.Subject, InReplyTo: in.MessageID, References: in.References,
		MessageID: id, Date: g.now(), Result: r, Body: body, File: file,
	})
	if err != nil {
		return fmt.Errorf("gateway: failed to compose reply: %w", err)
	}
	u.out = append(u.out, outMsg{kind: kind, from: g.cfg.EnvelopeSender, to: to, messageID: id, result: r, data: data})
	return nil
}

// stamp formats a time as records do, YYYYMMDDTHHMMSSZ (UTC).
func stamp(t time.Time) string { return t.UTC().Format(records.TimeLayout) }

// recordType is the record a {KMS:GetKlfStsEd2} request carries.
const recordType = "VKLOAD.REQ.1"

// prepare finds what the service needs in the request.
func (g *Gateway) prepare(in *Inbound, d Decision) job {
	var j job
	fail := func(code string, params ...string) job {
		r := errorResult(code, params...)
		j.fail = &r
		return j
	}
	switch d.Service {
	case ServiceGetKlfStsEd2:
		var found []string
		var fault error
		add := func(blocks []armor.Block) {
			for _, b := range blocks {
				if b.Type == recordType && !contains(found, b.Body) {
					found = append(found, b.Body)
				}
			}
		}
		blocks, err := armor.Find([]byte(in.Text))
		add(blocks)
		fault = firstFault(err)
		for _, a := range in.Attachments {
			blocks, err := armor.ParseFile(a.Data)
			if err != nil {
				return fail(gwresult.ERecordFormat, "the attachment is not a file of records: "+describeFault(firstFault(err)))
			}
			add(blocks)
		}
		switch {
		case len(found) == 0 && fault != nil:
			return fail(gwresult.ERecordFormat, describeFault(fault))
		case len(found) == 0:
			return fail(gwresult.ERecordFormat, "no STS:VKLOAD.REQ.1 block found")
		case len(found) > 1:
			return fail(gwresult.ERecordFormat, strconv.Itoa(len(found))+" different VKLOAD.REQ.1 blocks; send one")
		}
		j.request = found[0]
		if req, _ := records.ParseVKLoadReq(j.request); req != nil {
			j.module = req.SMID.Vendor + ":" + req.SMID.ID
		}
	case ServiceSmUpdateStsEd2:
		if len(in.Attachments) == 1 {
			j.file = &in.Attachments[0]
		}
	}
	return j
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// firstFault returns the first *armor.Error of a Find or ParseFile error
// about a VKLOAD.REQ.1 block (or of no known type), or nil.
func firstFault(err error) error {
	for _, e := range armor.Faults(err) {
		var ae *armor.Error
		if errors.As(e, &ae) && (ae.Type == "" || ae.Type == recordType) {
			return ae
		}
	}
	return nil
}

// describeFault says what was wrong with a block in the requester's terms:
// where, and which rule (never more than the sender's own text).
func describeFault(err error) string {
	var ae *armor.Error
	if !errors.As(err, &ae) {
		return "malformed record block"
	}
	what := strings.TrimPrefix(ae.Err.Error(), "armor: ")
	if ae.Line > 0 {
		return fmt.Sprintf("block at line %d: %s", ae.Line, what)
	}
	return what
}

// execute runs the service. A non-nil error is transient.
func (g *Gateway) execute(ctx context.Context, c *claimed, in *Inbound, d Decision, j job) (outcome, error) {
	if d.Result != nil {
		return errorOutcome(*d.Result, d), nil
	}
	if j.fail != nil {
		return errorOutcome(*j.fail, d), nil
	}
	// A KMC call must end well within the lease, or another worker would
	// take the request over while it runs.
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Lease/2)
	defer cancel()
	switch d.Service {
	case ServiceHelp:
		r := gwresult.Result{Kind: gwresult.Success, Text: "Instructions for the KMS E-mail Gateway services"}
		return outcome{result: r, body: HelpText(g.cfg.Address)}, nil

	case ServiceGetPublicKey:
		info, err := g.kmc.PublicKey(ctx)
		if err != nil {
			if r, final := classify(err); final {
				return errorOutcome(r, d), nil
			}
			return outcome{}, err
		}
		block, err := armor.Wrap(info.Record)
		if err != nil || !isFingerprint(info.Fingerprint) {
			return outcome{}, errInternal("KMC public key unusable: %v", err)
		}
		var b textBuilder
		b.line("KMC Public Key Fingerprint: " + info.Fingerprint)
		b.blank()
		b.line("Public Key in STS600-4-2 Record-In-Email format:")
		b.WriteString(string(block))
		b.blank()
		b.para("Check the fingerprint against the one the KMC publishes out of band before you install the key.")
		b.WriteString(footerText)
		r := gwresult.Result{Kind: gwresult.Success, Text: "KMC public key " + info.Fingerprint}
		return outcome{result: r, body: b.String()}, nil

	case ServiceGetKlfStsEd2:
		klf, err := g.kmc.IssueKLF(ctx, KLFRequest{ID: c.ref, Request: j.request, ReplyTo: d.To})
		if err != nil {
			if r, final := classify(err); final {
				return errorOutcome(r, d), nil
			}
			return outcome{}, err
		}
		data, err := armor.File(klf.Bodies...)
		if err != nil || len(klf.Bodies) < 3 {
			return outcome{}, errInternal("KMC returned an unusable Key Load File: %v", err)
		}
		id, at := klfName(klf, g.now())
		name := armor.FileName(id, at, "klf")
		nvk := len(klf.Bodies) - 2
		keys := fmt.Sprintf("%d vending keys", nvk)
		if nvk == 1 {
			keys = "1 vending key"
		}
		var b textBuilder
		b.para(fmt.Sprintf("The Key Load File for security module %s is attached as %s. It holds %s, "+
			"wrapped so that only that security module can load them.", id, name, keys))
		b.para("Load the file into the security module that made the request; it answers that request only.")
		b.WriteString(footerText)
		r := gwresult.Result{Kind: gwresult.Success, Text: fmt.Sprintf("Key Load File for security module %s attached (%s)", id, keys)}
		return outcome{result: r, body: b.String(), file: &replyFile{Name: name, Data: data}}, nil

	case ServiceSmUpdateStsEd2:
		if !g.stsaSender(in, d) {
			return errorOutcome(errorResult(gwresult.ENotAuthorisedSender), d), nil
		}
		if j.file == nil {
			return errorOutcome(errorResult(gwresult.EAttachment, "no attachment"), d), nil
		}
		summary, err := g.kmc.ApplyRegistryUpdate(ctx, RegistryUpdate{ID: c.ref, File: j.file.Data,
			FileName: j.file.Filename, Sender: d.To[0]})
		if err != nil {
			if r, final := classify(err); final {
				return errorOutcome(r, d), nil
			}
			return outcome{}, err
		}
		r := gwresult.Result{Kind: gwresult.Success, Text: summary}
		var b textBuilder
		b.para("The registry update was applied: " + gwresult.Clean(summary))
		b.WriteString(footerText)
		return outcome{result: r, body: b.String()}, nil
	}
	return outcome{}, errInternal("no service %v", d.Service)
}

// stsaSender reports whether the request's From and every reply address
// are configured STS Association senders.
func (g *Gateway) stsaSender(in *Inbound, d Decision) bool {
	if len(in.From) == 0 || !containsAddress(g.cfg.STSASenders, in.From[0]) {
		return false
	}
	for _, a := range d.To {
		if !containsAddress(g.cfg.STSASenders, a) {
			return false
		}
	}
	return true
}

// klfName returns the SM id and the issue time of a Key Load File, from
// its header, or from its SMID and now.
func klfName(klf KLF, now time.Time) (string, time.Time) {
	if h, _ := records.ParseKLFHeader(klf.Bodies[0]); h != nil {
		return h.SMID.ID, h.IssueTime
	}
	if p, _ := records.ParsePKID(klf.SMID); p.ID != "" {
		return p.ID, now
	}
	return "klf", now
}

func isFingerprint(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// resultHead writes the head of an error reply or a notice: "Your request
// <subject> <happened>", the label and code of r, and its text.
func (b *textBuilder) resultHead(d Decision, happened, label string, r gwresult.Result) {
	what := "Your request"
	if d.Service != nil {
		what += " " + d.Service.Subject()
	}
	b.para(what + " " + happened)
	b.line(label + ": " + r.Code)
	b.wrap(r.Text, "", "")
}

// errorOutcome is the reply of a final error.
func errorOutcome(r gwresult.Result, d Decision) outcome {
	var b textBuilder
	b.resultHead(d, "could not be processed.", "Error", r)
	if len(r.Params) > 0 {
		b.wrap("Detail: "+gwresult.Clean(strings.Join(r.Params, "; ")), "", "")
	}
	b.blank()
	if r.Code == gwresult.EUnknownService {
		b.para("The services are " + serviceList() + ".")
	}
	if r.Code == gwresult.ENotPlainText {
		b.para("The gateway reads only plain text. In Outlook choose Format Text > Plain Text; " +
			"in Gmail choose More options > Plain text mode; in Thunderbird hold Shift when you click Write.")
	}
	b.WriteString(footerText)
	return outcome{result: r, body: b.String()}
}

// noticeBody is the text of a notice.
func noticeBody(r gwresult.Result, d Decision) string {
	var b textBuilder
	b.resultHead(d, "was received.", "Notice", r)
	if len(r.Params) > 0 {
		b.line("Time: " + r.Params[0] + " (UTC)")
	}
	b.blank()
	b.WriteString(footerText)
	return b.String()
}

const footerText = "-- \r\nThis is an automatic reply of the STS KMS E-mail Gateway.\r\n" +
	"Send an e-mail with the Subject {KMS:Help} for instructions.\r\n"
