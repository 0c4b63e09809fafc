package gateway

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stskms/stskms/gwresult"
)

func TestParseMessage(t *testing.T) {
	raw := reqMail("caf\xe9\r\n",
		"Subject: =?iso-8859-1?q?{KMS:Help}_caf=E9?=",
		"Content-Type: text/plain; charset=iso-8859-1",
		"References: <a@x> <b@y>",
		"Cc: Bob <bob@example.com>",
		"Reply-To: ops@example.com")
	in := ParseMessage(Envelope{From: alice}, []byte(raw), int64(len(raw)), false)
	if in.Malformed != nil {
		t.Fatal(in.Malformed)
	}
	want := &Inbound{Subject: "{KMS:Help} café", MessageID: "m1@example.com", References: []string{"a@x", "b@y"},
		From: []string{alice}, ReplyTo: []string{"ops@example.com"}, To: []string{gwAddr}, Cc: []string{"bob@example.com"},
		Text: "café\r\n", PlainText: true}
	got := *in
	got.Header, got.Envelope, got.Size = want.Header, want.Envelope, 0
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("ParseMessage =\n%+v\nwant\n%+v", &got, want)
	}
}

func TestParseMessageAttachment(t *testing.T) {
	ct, body := multipart("mixed", plainPart,
		"Content-Type: text/plain; charset=us-ascii\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9q.txt\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=")
	raw := reqMail(body, ct)
	in := ParseMessage(envFrom(alice), []byte(raw), int64(len(raw)), false)
	if in.Malformed != nil || len(in.Attachments) != 1 {
		t.Fatalf("%v, %d attachments", in.Malformed, len(in.Attachments))
	}
	a := in.Attachments[0]
	if a.ContentType != "text/plain" || a.Disposition != "attachment" || a.Filename != "réq.txt" || string(a.Data) != "hello" {
		t.Errorf("attachment %+v", a)
	}
	if in.Text != "Regards, User" {
		t.Errorf("text %q", in.Text)
	}
}

func TestParseMessageTooDeep(t *testing.T) {
	body := "x"
	ct := "Content-Type: text/plain"
	for i := 0; i < maxDepth+2; i++ {
		ct, body = multipart("mixed", ct+"\r\n\r\n"+body)
		body = strings.ReplaceAll(body, "BOUNDARY42", "B"+strings.Repeat("x", i))
		ct = strings.ReplaceAll(ct, "BOUNDARY42", "B"+strings.Repeat("x", i))
	}
	raw := reqMail(body, ct)
	in := ParseMessage(envFrom(alice), []byte(raw), int64(len(raw)), false)
	if in.Malformed == nil {
		t.Error("a MIME tree deeper than the limit parsed")
	}
	if d := Decide(in, &testPolicy); d.Action != Ignore || d.Reason != Malformed {
		t.Errorf("Decide = %v %s", d.Action, d.Reason)
	}
}

// TestPrepareKLF: the VKLOAD.REQ.1 is looked for in the body and in a
// file-of-records attachment; none, two, or a damaged one are ERecordFormat
// with a parameter saying what was wrong.
func TestPrepareKLF(t *testing.T) {
	r2 := seedRecord(t, "R2")
	block := strings.Join(wrapLines(t, r2), "\r\n") + "\r\n"
	damaged := strings.Replace(block, "Prism-TSM250-1", "Prism TSM250-1", 1)
	other := strings.Replace(r2, "20200622T144047Z", "20200622T144048Z", 1)
	otherBlock := strings.Join(wrapLines(t, other), "\r\n") + "\r\n"
	fileAttach := func(data string) string {
		return "Content-Type: text/plain; name=req.txt\r\nContent-Disposition: attachment; filename=req.txt\r\n\r\n" + data
	}
	for _, tc := range []struct {
		name  string
		raw   string
		want  string // the request found
		param string // or the ERecordFormat parameter
	}{
		{"body", reqMail(block), r2, ""},
		{"same block twice", reqMail(block + "\r\n" + block), r2, ""},
		{"attachment", func() string {
			ct, b := multipart("mixed", plainPart, fileAttach(block))
			return reqMail(b, ct)
		}(), r2, ""},
		{"attachment and the same in the body", func() string {
			ct, b := multipart("mixed", "Content-Type: text/plain\r\n\r\n"+block, fileAttach(block))
			return reqMail(b, ct)
		}(), r2, ""},
		{"none", reqMail("Regards"), "", "no STS:VKLOAD.REQ.1 block found"},
		{"PK.ECDH.1 only", reqMail(strings.Join(wrapLines(t, seedRecord(t, "R1")), "\r\n")), "", "no STS:VKLOAD.REQ.1 block found"},
		{"two", reqMail(block + otherBlock), "", "2 different VKLOAD.REQ.1 blocks; send one"},
		{"damaged", reqMail("Hello\r\n" + damaged), "", "block at line 2: whitespace inside a field"},
		{"unterminated", reqMail(strings.TrimSuffix(block, "STS:VKLOAD.REQ.1 ENDS\r\n")), "", "block at line 1: block without ENDS"},
		{"attachment with text around", func() string {
			ct, b := multipart("mixed", plainPart, fileAttach("Hello\r\n"+block))
			return reqMail(b, ct)
		}(), "", "the attachment is not a file of records: block at line 1: text outside record blocks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := strings.Replace(tc.raw, "Subject: {KMS:Help}", "Subject: {KMS:GetKlfStsEd2}", 1)
			in := ParseMessage(envFrom(alice), []byte(raw), int64(len(raw)), false)
			d := Decide(in, &testPolicy)
			if d.Reason != ServiceRequest {
				t.Fatalf("Decide: %v %s", d.Action, d.Reason)
			}
			var g Gateway
			j := g.prepare(in, d)
			if tc.want != "" {
				if j.fail != nil || j.request != tc.want {
					t.Fatalf("prepare: fail %+v, request %q", j.fail, j.request)
				}
				return
			}
			if j.fail == nil || j.fail.Code != gwresult.ERecordFormat || !reflect.DeepEqual(j.fail.Params, []string{tc.param}) {
				t.Fatalf("prepare: fail %+v, want ERecordFormat %q", j.fail, tc.param)
			}
		})
	}
}
