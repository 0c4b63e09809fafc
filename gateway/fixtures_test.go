package gateway

import (
	"bufio"
	"encoding/base64"
	"mime/quotedprintable"
	"os"
	"strings"
	"testing"

	"github.com/stskms/stskms/records/armor"
)

// seedRecord returns a record of records/armor/testdata/seed-records.txt:
// R1 (the seed's PK.ECDH.1) or R2 (its VKLOAD.REQ.1).
func seedRecord(t testing.TB, name string) string {
	t.Helper()
	f, err := os.Open("../records/armor/testdata/seed-records.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" = "); ok {
			return v
		}
	}
	t.Fatalf("no record %s", name)
	return ""
}

// wrapLines returns the Record-in-Email lines of a one-line record.
func wrapLines(t testing.TB, record string) []string {
	t.Helper()
	b, err := armor.Wrap(record)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
}

// clientBody is a request body as a mail client sends it: extra header
// fields (Content-Type, Content-Transfer-Encoding) and the encoded body.
type clientBody struct {
	name    string
	headers []string
	body    string
}

// clientBodies returns the body of a request carrying record as the mail
// clients of STS 600-9-2 §7 send it, and a few more real-world forms.
func clientBodies(t testing.TB, record string) []clientBody {
	lines := wrapLines(t, record)
	body := func(ls []string, eol string) string {
		return strings.Join(ls, eol) + eol + eol + "Regards," + eol + "User" + eol
	}
	// Outlook (§7.1.2) shows spaces around every "|".
	outlook := make([]string, len(lines))
	for i, l := range lines {
		if i > 0 && i < len(lines)-1 {
			l = strings.ReplaceAll(l, "|", " | ")
		}
		outlook[i] = l
	}
	// Outlook.com (§7.1.3): "|" at the start or end of a line, with runs
	// of spaces.
	outlookCom := make([]string, len(lines))
	for i, l := range lines {
		if i > 0 && i < len(lines)-1 {
			l = strings.ReplaceAll(l, "|", "   |  ")
		}
		outlookCom[i] = l
	}
	// Thunderbird: format=flowed leaves trailing spaces; Gmail: lines
	// indented by a space in plain-text mode, a signature after.
	flowed := make([]string, len(lines))
	for i, l := range lines {
		flowed[i] = l + " "
	}
	gmail := make([]string, len(lines))
	for i, l := range lines {
		gmail[i] = " " + l
	}
	quoted := make([]string, len(lines))
	for i, l := range lines {
		quoted[i] = "> " + l
	}
	qp := func(s string) string {
		var b strings.Builder
		w := quotedprintable.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.String()
	}
	b64 := func(s string) string {
		enc := base64.StdEncoding.EncodeToString([]byte(s))
		var b strings.Builder
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		return b.String() + enc + "\r\n"
	}
	plain := "Content-Type: text/plain; charset=us-ascii"
	return []clientBody{
		{"seed 5.1.4.4", []string{plain}, body(lines, "\r\n")},
		{"Outlook 7.1.2", []string{"Content-Type: text/plain; charset=\"us-ascii\""}, body(outlook, "\r\n")},
		{"Outlook quoted-printable", []string{"Content-Type: text/plain; charset=\"iso-8859-1\"",
			"Content-Transfer-Encoding: quoted-printable"}, qp(body(outlook, "\r\n") + "Gr\xfc\xdfe\r\n")},
		{"Outlook.com 7.1.3", []string{"Content-Type: text/plain; charset=windows-1252"}, body(outlookCom, "\r\n")},
		{"Gmail 7.1.4", []string{"Content-Type: text/plain; charset=\"UTF-8\"", "Content-Transfer-Encoding: base64"},
			b64(body(gmail, "\r\n") + "-- \r\nUser \u00e9\r\n")},
		{"Thunderbird 7.1.5 format=flowed", []string{"Content-Type: text/plain; charset=UTF-8; format=flowed",
			"Content-Transfer-Encoding: 7bit"}, body(flowed, "\r\n")},
		{"quoted", []string{plain}, "See below.\r\n\r\n" + body(quoted, "\r\n")},
		{"LF line ends", []string{plain}, body(lines, "\n")},
	}
}

// TestClientBodies: every client layout yields exactly the record.
func TestClientBodies(t *testing.T) {
	r2 := seedRecord(t, "R2")
	for _, cb := range clientBodies(t, r2) {
		t.Run(cb.name, func(t *testing.T) {
			raw := reqMail(cb.body, append(cb.headers, "Subject: {KMS:GetKlfStsEd2}")...)
			in := ParseMessage(envFrom(alice), []byte(raw), int64(len(raw)), false)
			if in.Malformed != nil {
				t.Fatal(in.Malformed)
			}
			d := Decide(in, &testPolicy)
			if d.Action != Reply || d.Reason != ServiceRequest {
				t.Fatalf("Decide = %v %s", d.Action, d.Reason)
			}
			var g Gateway
			j := g.prepare(in, d)
			if j.fail != nil || j.request != r2 {
				t.Fatalf("prepare: %+v, request %q", j.fail, j.request)
			}
			if j.module != "Prism:94000304" {
				t.Errorf("module %q", j.module)
			}
		})
	}
}
