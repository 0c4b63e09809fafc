package gateway

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stskms/stskms/gwresult"
)

const (
	gwAddr  = "gateway@kms.example.com"
	alice   = "alice@example.com"
	baseMID = "<m1@example.com>"
)

var testPolicy = Policy{Addresses: []string{gwAddr}, Own: []string{"kms-replies@kms.example.com"}, MaxMessageBytes: 64 << 10}

// reqMail builds a request: the base header (From alice, To the gateway,
// Subject {KMS:Help}, a Message-ID), changed by edits, then the body. An
// edit "Name: value" replaces the base field of that name or adds one;
// "-Name" removes it.
func reqMail(body string, edits ...string) string {
	fields := []string{
		"From: Alice <" + alice + ">",
		"To: KMS Gateway <" + gwAddr + ">",
		"Subject: {KMS:Help}",
		"Message-ID: " + baseMID,
		"Date: Mon, 23 Jun 2025 10:00:00 +0200",
	}
	for _, e := range edits {
		if name, ok := strings.CutPrefix(e, "-"); ok {
			fields = remove(fields, name)
			continue
		}
		name, _, _ := strings.Cut(e, ":")
		if i := find(fields, name); i >= 0 {
			fields[i] = e
		} else {
			fields = append(fields, e)
		}
	}
	return strings.Join(fields, "\r\n") + "\r\n\r\n" + body
}

func find(fields []string, name string) int {
	for i, f := range fields {
		if strings.HasPrefix(strings.ToLower(f), strings.ToLower(name)+":") {
			return i
		}
	}
	return -1
}

func remove(fields []string, name string) []string {
	if i := find(fields, name); i >= 0 {
		return append(fields[:i], fields[i+1:]...)
	}
	return fields
}

func envFrom(from string) Envelope { return Envelope{From: from, To: []string{gwAddr}} }

// multipart builds a multipart/<sub> body header and parts (each "header
// lines\r\n\r\nbody").
func multipart(sub string, parts ...string) (ctype string, body string) {
	const b = "BOUNDARY42"
	var s strings.Builder
	for _, p := range parts {
		s.WriteString("--" + b + "\r\n" + p + "\r\n")
	}
	s.WriteString("--" + b + "--\r\n")
	return "Content-Type: multipart/" + sub + "; boundary=" + b, s.String()
}

const (
	plainPart = "Content-Type: text/plain; charset=us-ascii\r\n\r\nRegards, User"
	htmlPart  = "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Regards, User</p>"
	txtAttach = "Content-Type: text/plain; name=req.txt\r\nContent-Disposition: attachment; filename=req.txt\r\n\r\nSTS:VKLOAD.REQ.1 BEGINS\r\n"
	pdfAttach = "Content-Type: application/pdf; name=x.pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
)

// TestDecide is the rule table: one row per rule of the issue's "Request
// rules" and "Replies" (STS 600-9-2 §4, §8.2, §8.3.1; RFC 3834 §2), each a
// mail that breaks only that rule.
func TestDecide(t *testing.T) {
	alt, altBody := multipart("alternative", plainPart, htmlPart)
	htmlOnly, htmlBody := multipart("alternative", htmlPart)
	related, relBody := multipart("related", htmlPart, "Content-Type: image/png\r\nContent-ID: <logo>\r\n\r\nPNG")
	mixedTxt, mixedTxtBody := multipart("mixed", plainPart, txtAttach)
	mixedPdf, mixedPdfBody := multipart("mixed", plainPart, pdfAttach)
	mixedTwo, mixedTwoBody := multipart("mixed", plainPart, txtAttach, txtAttach)
	inlineImg, inlineImgBody := multipart("mixed", plainPart, "Content-Type: image/png\r\n\r\nPNG")
	inlineTxt, inlineTxtBody := multipart("mixed", plainPart,
		"Content-Type: text/plain; name=req.txt\r\nContent-Disposition: inline\r\n\r\nmore text")

	type row struct {
		name   string
		env    Envelope
		raw    string
		size   int64 // 0: len(raw)
		trunc  bool
		action Action
		reason Reason
		code   string // for replies with an immediate error
	}
	ok := func(name, raw string) row {
		return row{name: name, env: envFrom(alice), raw: raw, action: Reply, reason: ServiceRequest}
	}
	ign := func(name string, r Reason, raw string) row {
		return row{name: name, env: envFrom(alice), raw: raw, action: Ignore, reason: r}
	}
	errReply := func(name string, r Reason, code, raw string) row {
		return row{name: name, env: envFrom(alice), raw: raw, action: Reply, reason: r, code: code}
	}
	rows := []row{
		// Well-formed requests.
		ok("help", reqMail("Regards, User")),
		ok("trailing text kept", reqMail("", "Subject: {KMS:Help} ticket 42")),
		ok("leading space", reqMail("", "Subject:   {KMS:Help}")),
		ok("case-insensitive code", reqMail("", "Subject: {kms:help}")),
		ok("address case and display name", reqMail("", "To: \"The KMC\" <GATEWAY@KMS.Example.COM>")),
		ok("gateway among several To", reqMail("", "To: bob@example.com, "+gwAddr)),
		ok("Auto-Submitted: no", reqMail("", "Auto-Submitted: no")),
		ok("Precedence: first-class", reqMail("", "Precedence: first-class")),
		ok("X-Auto-Response-Suppress: DR, RN", reqMail("", "X-Auto-Response-Suppress: DR, RN")),
		ok("plain and HTML alternatives", reqMail(altBody, alt)),
		ok("get public key", reqMail("", "Subject: {KMS:GetPublicKey}")),
		ok("KLF request with a text/plain attachment", reqMail(mixedTxtBody, mixedTxt, "Subject: {KMS:GetKlfStsEd2}")),
		ok("SmUpdate with a text/plain attachment", reqMail(mixedTxtBody, mixedTxt, "Subject: {KMS:SmUpdateStsEd2}")),
		ok("inline text/plain part joins the body", reqMail(inlineTxtBody, inlineTxt)),

		// §4: To: must hold the gateway address.
		ign("Cc only", NotAddressed, reqMail("", "To: bob@example.com", "Cc: "+gwAddr)),
		ign("Bcc only (envelope)", NotAddressed, reqMail("", "-To")),
		ign("own bounce address is not the request address", NotAddressed, reqMail("", "To: kms-replies@kms.example.com")),

		// RFC 3834 §2: automatic mail.
		ign("Auto-Submitted: auto-replied", AutoSubmitted, reqMail("", "Auto-Submitted: auto-replied")),
		ign("Auto-Submitted: auto-generated", AutoSubmitted, reqMail("", "Auto-Submitted: auto-generated")),
		ign("Auto-Submitted with parameter", AutoSubmitted, reqMail("", "Auto-Submitted: auto-notified; owner-email=x@example.com")),
		ign("X-Auto-Response-Suppress: All", SuppressResponse, reqMail("", "X-Auto-Response-Suppress: All")),
		ign("X-Auto-Response-Suppress: OOF", SuppressResponse, reqMail("", "X-Auto-Response-Suppress: DR, OOF")),
		ign("X-Auto-Response-Suppress: AutoReply", SuppressResponse, reqMail("", "X-Auto-Response-Suppress: AutoReply")),

		// Mailing lists.
		ign("List-Id", MailingList, reqMail("", "List-Id: <kms.lists.example.com>")),
		ign("List-Unsubscribe", MailingList, reqMail("", "List-Unsubscribe: <mailto:leave@example.com>")),
		ign("Mailing-List", MailingList, reqMail("", "Mailing-List: list kms@example.com")),
		ign("Precedence: bulk", BulkPrecedence, reqMail("", "Precedence: bulk")),
		ign("Precedence: list", BulkPrecedence, reqMail("", "Precedence: List")),
		ign("Precedence: junk", BulkPrecedence, reqMail("", "Precedence: junk")),

		// Null or missing Return-Path.
		{name: "MAIL FROM:<>", env: envFrom(""), raw: reqMail(""), action: Ignore, reason: NullSender},
		ign("Return-Path: <>", NullSender, reqMail("", "Return-Path: <>")),

		// Daemons and list robots.
		{name: "envelope MAILER-DAEMON", env: envFrom("MAILER-DAEMON@mx.example.com"), raw: reqMail(""), action: Ignore, reason: DaemonSender},
		ign("From postmaster", DaemonSender, reqMail("", "From: postmaster@example.com")),
		ign("From *-request", DaemonSender, reqMail("", "From: kms-list-request@example.com")),
		ign("From owner-*", DaemonSender, reqMail("", "From: owner-kms@example.com")),
		ign("Sender *-bounces", DaemonSender, reqMail("", "Sender: kms-bounces@example.com")),
		ign("Reply-To noreply", DaemonSender, reqMail("", "Reply-To: noreply@example.com")),
		{name: "BATV-signed MAILER-DAEMON", env: envFrom("prvs=1234abcd=mailer-daemon@example.com"), raw: reqMail(""), action: Ignore, reason: DaemonSender},
		{name: "SRS-rewritten postmaster", env: envFrom("SRS0=HHH=TT=example.org=postmaster@fwd.example.com"), raw: reqMail(""), action: Ignore, reason: DaemonSender},

		// Loops: the gateway itself.
		ign("From the gateway", OwnMail, reqMail("", "From: KMS <"+gwAddr+">")),
		{name: "envelope from the gateway", env: envFrom(gwAddr), raw: reqMail(""), action: Ignore, reason: OwnMail},
		{name: "envelope from the bounce address", env: envFrom("kms-replies@kms.example.com"), raw: reqMail(""), action: Ignore, reason: OwnMail},
		ign("Reply-To the gateway", OwnMail, reqMail("", "Reply-To: "+gwAddr)),
		ign("carries X-Gateway-Result", GatewayResult, reqMail("", "X-Gateway-Result: Success\tok")),

		// Subject prefixes of replies, forwards and automatic replies.
		ign("Re:", ReplyPrefix, reqMail("", "Subject: Re: {KMS:Help}")),
		ign("RE:", ReplyPrefix, reqMail("", "Subject: RE: {KMS:Help}")),
		ign("Fwd:", ReplyPrefix, reqMail("", "Subject: Fwd: {KMS:Help}")),
		ign("Fw:", ReplyPrefix, reqMail("", "Subject: Fw: {KMS:Help}")),
		ign("FW:", ReplyPrefix, reqMail("", "Subject: FW: {KMS:Help}")),
		ign("AW:", ReplyPrefix, reqMail("", "Subject: AW: {KMS:Help}")),
		ign("WG:", ReplyPrefix, reqMail("", "Subject: WG: {KMS:Help}")),
		ign("Auto:", ReplyPrefix, reqMail("", "Subject: Auto: {KMS:Help}")),
		ign("Automatic reply:", ReplyPrefix, reqMail("", "Subject: Automatic reply: {KMS:Help}")),
		ign("Out of Office:", ReplyPrefix, reqMail("", "Subject: Out of Office: {KMS:Help}")),
		ign("Out of office AutoReply:", ReplyPrefix, reqMail("", "Subject: Out of office AutoReply: {KMS:Help}")),
		ign("Re[2]:", ReplyPrefix, reqMail("", "Subject: Re[2]: {KMS:Help}")),
		ign("French RE :", ReplyPrefix, reqMail("", "Subject: RE : {KMS:Help}")),
		ign("Réponse automatique", ReplyPrefix, reqMail("", "Subject: =?utf-8?q?R=C3=A9ponse_automatique=3A_=7BKMS=3AHelp=7D?=")),

		// Size.
		{name: "over the size limit", env: envFrom(alice), raw: reqMail(""), size: 65<<10 + 1, action: Ignore, reason: TooLarge},
		{name: "stored header only", env: envFrom(alice), raw: reqMail(""), trunc: true, action: Ignore, reason: TooLarge},

		// No service code.
		ign("plain subject", NoService, reqMail("", "Subject: Help")),
		ign("code not first", NoService, reqMail("", "Subject: please {KMS:Help}")),
		ign("no brace", NoService, reqMail("", "Subject: KMS:Help")),
		ign("unclosed", NoService, reqMail("", "Subject: {KMS:Help")),
		ign("no subject", NoService, reqMail("", "-Subject")),
		ign("OCR brackets", NoService, reqMail("", "Subject: [KMS:GetKlfStsEd2]")),

		// Unknown service: error reply listing the services.
		errReply("unknown service", UnknownService, gwresult.EUnknownService, reqMail("", "Subject: {KMS:GetCoffee}")),

		// HTML only: error reply asking for plain text.
		errReply("HTML only", HTMLOnly, gwresult.ENotPlainText, reqMail(htmlBody, htmlOnly)),
		errReply("HTML with inline image", HTMLOnly, gwresult.ENotPlainText, reqMail(relBody, related)),
		errReply("HTML only, single part", HTMLOnly, gwresult.ENotPlainText, reqMail("<p>hi</p>", "Content-Type: text/html")),

		// Attachments.
		ign("attachment to Help", UnexpectedAttach, reqMail(mixedTxtBody, mixedTxt)),
		ign("inline image to Help", UnexpectedAttach, reqMail(inlineImgBody, inlineImg)),
		errReply("PDF to GetKlf", BadAttachment, gwresult.EAttachment, reqMail(mixedPdfBody, mixedPdf, "Subject: {KMS:GetKlfStsEd2}")),
		errReply("two attachments to GetKlf", BadAttachment, gwresult.EAttachment, reqMail(mixedTwoBody, mixedTwo, "Subject: {KMS:GetKlfStsEd2}")),
		errReply("SmUpdate without attachment", BadAttachment, gwresult.EAttachment, reqMail("", "Subject: {KMS:SmUpdateStsEd2}")),

		// No address to reply to.
		ign("no From, Reply-To or Sender", NoReplyAddress, reqMail("", "-From")),
		ign("unreadable header", Malformed, " folded first line\r\n\r\nbody"),
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size == 0 {
				size = int64(len(tc.raw))
			}
			in := ParseMessage(tc.env, []byte(tc.raw), size, tc.trunc)
			d := Decide(in, &testPolicy)
			if d.Action != tc.action || d.Reason != tc.reason {
				t.Fatalf("Decide = %v %q, want %v %q (malformed: %v)", d.Action, d.Reason, tc.action, tc.reason, in.Malformed)
			}
			switch {
			case tc.code != "" && (d.Result == nil || d.Result.Code != tc.code):
				t.Errorf("result %+v, want code %s", d.Result, tc.code)
			case tc.code == "" && d.Result != nil:
				t.Errorf("unexpected result %+v", d.Result)
			}
			if d.Action == Reply && len(d.To) == 0 {
				t.Error("reply without recipients")
			}
		})
	}
}

// TestReplyAddresses: Reply-To (all of it) if present, else the first
// From, else the Sender (STS 600-9-2 §8.3.1).
func TestReplyAddresses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits []string
		want  []string
	}{
		{"From", nil, []string{alice}},
		{"first of two From", []string{"From: a@example.com, b@example.com"}, []string{"a@example.com"}},
		{"Reply-To list", []string{"Reply-To: Ops <ops@example.com>, keys@example.com"}, []string{"ops@example.com", "keys@example.com"}},
		{"Reply-To duplicates", []string{"Reply-To: ops@example.com, OPS@example.com"}, []string{"ops@example.com"}},
		{"Sender", []string{"-From", "Sender: robot@example.com"}, []string{"robot@example.com"}},
		{"lenient From", []string{"From: Alice Example alice@example.com <alice@example.com"}, []string{alice}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ParseMessage(envFrom(alice), []byte(reqMail("", tc.edits...)), 100, false)
			d := Decide(in, &testPolicy)
			if d.Action != Reply || !reflect.DeepEqual(d.To, tc.want) {
				t.Errorf("Decide = %v %s to %q, want reply to %q", d.Action, d.Reason, d.To, tc.want)
			}
		})
	}
}

func TestServiceName(t *testing.T) {
	for subject, want := range map[string]string{
		"{KMS:Help}":             "Help",
		"{KMS:GetKlfStsEd2} #17": "GetKlfStsEd2",
		" \t{Kms:GetPublicKey}":  "GetPublicKey",
		"{KMS: Help }":           "Help",
		"{KMS:}":                 "",
		"{KMS:a b}":              "",
		"{KMS:Help":              "",
		"{KMS:Hélp}":             "",
	} {
		got, ok := serviceName(subject)
		if got != want || ok != (want != "") {
			t.Errorf("serviceName(%q) = %q, %v; want %q", subject, got, ok, want)
		}
	}
}
