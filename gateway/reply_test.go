package gateway

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"

	"github.com/stskms/stskms/gwresult"
)

// parsedReply is a reply as a recipient reads it.
type parsedReply struct {
	header   mail.Header // net/mail: RFC 5322 unfolding, keeps tabs
	result   gwresult.Result
	text     string
	textType string
	files    []replyFile
	fileType string
	fileDisp string
}

// readReply parses a reply the way an integrator would, checking the
// guarantees of STS 600-9-2 §8.3.1 that hold for every reply.
func readReply(t testing.TB, data []byte) *parsedReply {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	p := &parsedReply{header: m.Header}
	for _, want := range []struct{ k, v string }{
		{"Auto-Submitted", "auto-replied"}, {"Precedence", "bulk"}, {"X-Auto-Response-Suppress", "All"}, {"Mime-Version", "1.0"},
	} {
		if got := m.Header.Get(want.k); got != want.v {
			t.Errorf("%s: %q, want %q", want.k, got, want.v)
		}
	}
	if v := m.Header.Get(gwresult.HeaderName); v != "" {
		if p.result, err = gwresult.Parse(v); err != nil {
			t.Errorf("X-Gateway-Result %q: %v", v, err)
		}
	}
	// The raw header line is never folded.
	if !regexp.MustCompile(`(?m)^X-Gateway-Result: [^\r\n]*\r\n[^ \t]`).Match(data) {
		t.Error("X-Gateway-Result folded or missing")
	}
	e, err := message.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if mr := e.MultipartReader(); mr != nil {
		if mt, _, _ := e.Header.ContentType(); mt != "multipart/mixed" {
			t.Errorf("multipart type %s", mt)
		}
		for i := 0; ; i++ {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(part.Body)
			mt, params, _ := part.Header.ContentType()
			if i == 0 {
				p.text, p.textType = string(b), mt
				continue
			}
			disp, dparams, _ := part.Header.ContentDisposition()
			p.fileType, p.fileDisp = mt+"; charset="+params["charset"], disp
			p.files = append(p.files, replyFile{Name: dparams["filename"], Data: b})
		}
	} else {
		b, _ := io.ReadAll(e.Body)
		p.text, _, _ = e.Header.ContentType()
		p.textType, p.text = p.text, string(b)
	}
	if p.textType != "text/plain" {
		t.Errorf("text body of type %q", p.textType)
	}
	return p
}

func TestComposeReply(t *testing.T) {
	date := time.Date(2025, 6, 23, 10, 0, 0, 0, time.UTC)
	m := &replyMail{
		From: mail.Address{Name: "STS KMS E-mail Gateway", Address: gwAddr}, To: []string{alice, "ops@example.com"},
		Subject: "{KMS:GetKlfStsEd2} ré 42", InReplyTo: "m1@example.com", References: []string{"r0@x", "bad id", "m1@example.com"},
		MessageID: "abc.final.1@kms.example.com", Date: date,
		Result: gwresult.Result{Kind: gwresult.Success, Text: "Key Load File for security module 94000001 attached (1 vending keys)"},
		Body:   "line one\nline two",
		File:   &replyFile{Name: "94000001_20250103T121500Z.klf", Data: []byte("STS:KLF.HDR.1 BEGINS\r\nX|Y\r\nSTS:KLF.HDR.1 ENDS\r\n")},
	}
	data, err := composeReply(m)
	if err != nil {
		t.Fatal(err)
	}
	p := readReply(t, data)
	h := p.header
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(h.Get("Subject"))
	for k, want := range map[string]string{
		"From":        `"STS KMS E-mail Gateway" <gateway@kms.example.com>`,
		"To":          "<alice@example.com>, <ops@example.com>",
		"Message-Id":  "<abc.final.1@kms.example.com>",
		"In-Reply-To": "<m1@example.com>",
		"References":  "<r0@x> <m1@example.com>",
		"Date":        "Mon, 23 Jun 2025 10:00:00 +0000",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if subj != "Auto: {KMS:GetKlfStsEd2} ré 42" {
		t.Errorf("Subject %q", subj)
	}
	if !reflect.DeepEqual(p.result, m.Result) {
		t.Errorf("result %+v", p.result)
	}
	if p.text != "line one\r\nline two\r\n" {
		t.Errorf("text %q", p.text)
	}
	if len(p.files) != 1 || p.files[0].Name != m.File.Name || !bytes.Equal(p.files[0].Data, m.File.Data) {
		t.Errorf("files %+v", p.files)
	}
	if p.fileType != "text/plain; charset=us-ascii" || p.fileDisp != "attachment" {
		t.Errorf("attachment %s, %s", p.fileType, p.fileDisp)
	}
	// The file travels 7bit, readable as is.
	if !bytes.Contains(data, m.File.Data) {
		t.Error("attachment not 7bit")
	}
}

func TestComposeReplySingle(t *testing.T) {
	m := &replyMail{From: mail.Address{Address: gwAddr}, To: []string{alice}, Subject: "{KMS:Help}\r\nBcc: x@y",
		MessageID: "id@h", Date: time.Now(), Result: gwresult.Result{Kind: gwresult.Failure, Code: gwresult.EUnknownService, Text: "no", Params: []string{"Xyz"}},
		Body: "hello"}
	data, err := composeReply(m)
	if err != nil {
		t.Fatal(err)
	}
	p := readReply(t, data)
	if p.header.Get("Subject") != "Auto: {KMS:Help}  Bcc: x@y" || p.header.Get("Bcc") != "" {
		t.Errorf("Subject %q, Bcc %q", p.header.Get("Subject"), p.header.Get("Bcc"))
	}
	if p.header.Get("In-Reply-To") != "" || p.header.Get("References") != "" {
		t.Error("In-Reply-To without a request Message-ID")
	}
	if p.result.Code != gwresult.EUnknownService || !strings.Contains(string(data), "Error\tEUnknownService\tno\tXyz\r\n") {
		t.Errorf("result %+v", p.result)
	}
	if p.text != "hello\r\n" {
		t.Errorf("text %q", p.text)
	}
}
