package armor_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stskms/stskms/records/armor"
)

// seedR2Lines are the body lines of the STS:VKLOAD.REQ.1 block of the seed
// STS 600-9-2 §5.1.4.4 (example request), as transcribed in the R2 literals
// of docs/notes/kms-vectors.py: 64 characters each, the last shorter,
// cut without regard to fields.
var seedR2Lines = []string{
	"VKLOAD.REQ.1|SMID.1:Prism:94000304:20200622T130252Z:26D7925210FB",
	"47EA:2642|KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:",
	"6850|20200622T144047Z|Prism-TSM250-1|STS65V10|043771530383BB4B75",
	"70ED7019FB15DAE1A303E249CF8B51734136CFB58B2B6895D0E2202A6140FE2E",
	"38ED65178372E29CE0959436A13CC08D96E1C849BF5BE8B0FB198B5577CF24AC",
	"0A73A71FA759DB202A933CEA9A0B9523DCACBDD91CC40500|38D1405FE3AB906",
	"524921F159B7FCC4B7104906B824DA80E|FB39",
}

// seedR1Lines are the body lines of the STS:PK.ECDH.1 block of the seed
// STS 600-9-2 §5.1.3.5 (example response), the R1 literals of
// kms-vectors.py.
var seedR1Lines = []string{
	"PK.ECDH.1|KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:",
	"6850|047D77A4819BEF702350D3912583AC169FAD4181648DA70E60944752731",
	"5D931A8BD73A084204180CB7D0619C3850BF9BA1E0C9E93200723588D427BB35",
	"8570EAF2F8576447478F3953FCC50C874461C334D19D8AA8CFFDE23507B11A10",
	"4027CE2|20230601T000000Z|D318",
}

// seedBlock is a block as the seed prints it, with CRLF line ends.
func seedBlock(typ string, lines []string) string {
	return "STS:" + typ + " BEGINS\r\n" + strings.Join(lines, "\r\n") + "\r\nSTS:" + typ + " ENDS\r\n"
}

func TestWrapSeedExact(t *testing.T) {
	tests := []struct {
		name, typ string
		lines     []string
	}{
		// STS 600-9-2 §5.1.4.4: the request block, byte for byte.
		{"R2", "VKLOAD.REQ.1", seedR2Lines},
		// STS 600-9-2 §5.1.3.5: the response block.
		{"R1", "PK.ECDH.1", seedR1Lines},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := record(t, seedRecords, tt.name)
			if joined := strings.Join(tt.lines, ""); joined != body {
				t.Fatalf("seed lines and %s disagree:\n%s\n%s", seedRecords, joined, body)
			}
			got := mustWrap(t, body)
			if want := seedBlock(tt.typ, tt.lines); got != want {
				t.Errorf("Wrap =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestWrapShape checks the layout of kms-records.md §2.5 on every test
// record: markers naming field 0, body lines of exactly 64 characters but
// the last (1 to 64), CRLF everywhere.
func TestWrapShape(t *testing.T) {
	for _, r := range allRecords(t) {
		t.Run(r.name, func(t *testing.T) {
			out := mustWrap(t, r.body)
			if strings.Count(out, "\n") != strings.Count(out, "\r\n") || strings.Count(out, "\r") != strings.Count(out, "\r\n") {
				t.Fatal("line ends other than CRLF")
			}
			lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
			typ, _, _ := strings.Cut(r.body, "|")
			if lines[0] != "STS:"+typ+" BEGINS" || lines[len(lines)-1] != "STS:"+typ+" ENDS" {
				t.Errorf("markers %q … %q", lines[0], lines[len(lines)-1])
			}
			body := lines[1 : len(lines)-1]
			for i, l := range body {
				if i < len(body)-1 && len(l) != armor.LineLen || len(l) == 0 || len(l) > armor.LineLen {
					t.Errorf("body line %d has %d characters", i+1, len(l))
				}
			}
			if strings.Join(body, "") != r.body {
				t.Error("body lines do not join to the record")
			}
		})
	}
}

// TestRoundTrip: Find(Wrap(r)) gives r back for the §3.7 records of
// kms-vectors.py and the seed records R1 and R2.
func TestRoundTrip(t *testing.T) {
	for _, r := range allRecords(t) {
		t.Run(r.name, func(t *testing.T) {
			blocks, err := armor.Find([]byte(mustWrap(t, r.body)))
			if err != nil {
				t.Fatal(err)
			}
			typ, _, _ := strings.Cut(r.body, "|")
			want := armor.Block{Type: typ, Body: r.body, Line: 1}
			if len(blocks) != 1 || blocks[0] != want {
				t.Fatalf("Find = %+v, want [%+v]", blocks, want)
			}
		})
	}
}

func TestWrapLengths(t *testing.T) {
	// Lengths around the line length and the body limit.
	for _, n := range []int{6, 63, 64, 65, 127, 128, 129, armor.MaxBodyLen} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			body := "VK.1|" + strings.Repeat("A", n-5)
			out := mustWrap(t, body)
			wantLines := 2 + (n+armor.LineLen-1)/armor.LineLen
			if got := strings.Count(out, "\r\n"); got != wantLines {
				t.Errorf("%d lines, want %d", got, wantLines)
			}
			blocks, err := armor.Find([]byte(out))
			if err != nil || len(blocks) != 1 || blocks[0].Body != body {
				t.Fatalf("Find: %d blocks, %v", len(blocks), err)
			}
		})
	}
}

// wrapErrorCases are bodies Wrap refuses (and seeds of FuzzFind).
var wrapErrorCases = []struct {
	name, body string
	want       error
}{
	{"empty", "", armor.ErrEmpty},
	{"no separator", "VK.1", armor.ErrNotRecord},
	{"too long", "VK.1|" + strings.Repeat("A", armor.MaxBodyLen-4), armor.ErrTooLong},
	{"space in field", "VK.1|12 34|", armor.ErrWhitespace},
	{"space next to separator", "VK.1 |1|", armor.ErrWhitespace},
	{"tab", "VK.1|1\t|", armor.ErrWhitespace},
	{"CR", "VK.1|1\r\n|", armor.ErrBadCharacter},
	{"NUL", "VK.1|\x00|", armor.ErrBadCharacter},
	{"DEL", "VK.1|\x7f|", armor.ErrBadCharacter},
	{"non-breaking space", "VK.1|1\u00a0|", armor.ErrBadCharacter},
	{"quote mark", "VK.1|a>b|", armor.ErrBadCharacter},
	{"lower-case type", "vk.1|1|", armor.ErrBadType},
	{"no version", "VK|1|", armor.ErrBadType},
	{"letters in version", "VK.1A|1|", armor.ErrBadType},
	{"empty name", "VK..1|1|", armor.ErrBadType},
	{"leading dot", ".1|1|", armor.ErrBadType},
	{"trailing dot", "VK.1.|1|", armor.ErrBadType},
	{"empty type", "|1|", armor.ErrBadType},
	{"dash in type", "VK-LOAD.1|1|", armor.ErrBadType},
}

func TestWrapErrors(t *testing.T) {
	for _, tt := range wrapErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			out, err := armor.Wrap(tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Wrap error %v, want %v", err, tt.want)
			}
			var ae *armor.Error
			if !errors.As(err, &ae) || ae.Line != 0 || ae.At != 0 {
				t.Errorf("error %#v is not an *Error with Line 0", err)
			}
			// Type is reported when the body starts with a good one.
			wantType := ""
			if strings.HasPrefix(tt.body, "VK.1|") {
				wantType = "VK.1"
			}
			if ae.Type != wantType {
				t.Errorf("Type %q, want %q", ae.Type, wantType)
			}
			if out != nil {
				t.Error("output with an error")
			}
		})
	}
}

// variant is a mail body holding one block, as a client left it.
type variant struct {
	name string
	text string
	line int // line of the BEGINS marker
}

// r2Variants returns the seed request block (STS 600-9-2 §5.1.4.4) the
// ways mail clients deliver it (§7.1.2–§7.1.4) and worse. Find must give
// back exactly R2's body from every one.
func r2Variants() []variant {
	exact := seedBlock("VKLOAD.REQ.1", seedR2Lines)
	body := strings.Join(seedR2Lines, "")
	rewrap := func(width int) string {
		var b strings.Builder
		b.WriteString("STS:VKLOAD.REQ.1 BEGINS\r\n")
		for s := body; s != ""; {
			n := min(width, len(s))
			b.WriteString(s[:n] + "\r\n")
			s = s[n:]
		}
		b.WriteString("STS:VKLOAD.REQ.1 ENDS\r\n")
		return b.String()
	}
	quoted := func(prefix func(int) string) string {
		return mapLines(exact, "\r\n", func(i int, l string) string { return prefix(i) + l })
	}
	return []variant{
		{"as sent", exact, 1},
		// §7.1.2 Outlook, plain text: the screenshot shows a space on
		// each side of most "|" (whether Outlook or the OCR put them
		// there, Find must not care). Transcribed with the "|" that the
		// OCR read as "[" on the first line restored.
		{"Outlook spaces around |", "" +
			"STS:VKLOAD.REQ.1 BEGINS\r\n" +
			"VKLOAD.REQ.1 |SMID.1:Prism:94000304:20200622T130252Z:26D7925210FB\r\n" +
			"47EA:2642 | KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:\r\n" +
			"6850 | 20200622T144047Z | Prism-TSM250-1 | STS65V10 | 043771530383BB4B75\r\n" +
			"70ED7019FB15DAE1A303E249CF8B51734136CFB58B2B6895D0E2202A6140FE2E\r\n" +
			"38ED65178372E29CE0959436A13CC08D96E1C849BF5BE8B0FB198B5577CF24AC\r\n" +
			"0A73A71FA759DB202A933CEA9A0B9523DCACBDD91CC40500 | 38D1405FE3AB906\r\n" +
			"524921F159B7FCC4B7104906B824DA80E | FB39\r\n" +
			"STS:VKLOAD.REQ.1 ENDS\r\n" +
			"\r\n" +
			"Regards,\r\n" +
			"User\r\n", 1},
		// Tabs and runs of spaces around "|", and a "|" that ends up
		// alone at a line end or start after re-flowing.
		{"tabs around |", strings.ReplaceAll(exact, "|", " \t|\t "), 1},
		{"| at line ends", strings.ReplaceAll(exact, "|", " |\r\n  "), 1},
		// §5.1.4.4 and §7.1.4 Gmail: the block between a greeting and
		// "Regards, User".
		{"text around", "Hello,\r\n\r\nplease send a KLF for:\r\n\r\n" + exact +
			"\r\nRegards,\r\nUser\r\n-- \r\nSent from my phone\r\n", 5},
		// Line ends converted or lost on the way.
		{"LF only", strings.ReplaceAll(exact, "\r\n", "\n"), 1},
		{"CR only", strings.ReplaceAll(exact, "\r\n", "\r"), 1},
		{"mixed line ends", mapLines(exact, "", func(i int, l string) string {
			return l + []string{"\r\n", "\n", "\r"}[i%3]
		}), 1},
		{"no final line end", strings.TrimSuffix(exact, "\r\n"), 1},
		// Trailing and leading whitespace (format=flowed space-stuffing,
		// indentation, editors keeping tabs).
		{"trailing tabs", mapLines(exact, "\r\n", func(_ int, l string) string { return l + "\t" }), 1},
		{"trailing spaces and tabs", mapLines(exact, "\r\n", func(_ int, l string) string { return l + " \t  " }), 1},
		{"leading spaces", mapLines(exact, "\r\n", func(_ int, l string) string { return " " + l }), 1},
		{"indented with tabs", mapLines(exact, "\r\n", func(_ int, l string) string { return "\t\t" + l }), 1},
		{"marker whitespace", strings.NewReplacer(
			"STS:VKLOAD.REQ.1 BEGINS", "   STS:VKLOAD.REQ.1 \t  BEGINS \t",
			"STS:VKLOAD.REQ.1 ENDS", "\tSTS:VKLOAD.REQ.1\tENDS   ").Replace(exact), 1},
		// Blank lines inside the block (a client doubling line ends).
		{"blank lines", strings.ReplaceAll(exact, "\r\n", "\r\n\r\n"), 1},
		{"whitespace-only lines", strings.ReplaceAll(exact, "\r\n", "\r\n \t \r\n"), 1},
		// A quoted reply, at any depth, with and without space.
		{"quoted", quoted(func(int) string { return "> " }), 1},
		{"quoted twice without space", quoted(func(int) string { return ">>" }), 1},
		{"quoted three times with spaces", quoted(func(int) string { return "> > > " }), 1},
		{"quoted inconsistently", quoted(func(i int) string {
			return []string{"> ", ">", "", ">> ", " > >", "\t>"}[i%6]
		}), 1},
		{"quoted with blank quote lines", strings.ReplaceAll(quoted(func(int) string { return "> " }), "\r\n", "\r\n>\r\n"), 1},
		{"quoted reply", "On Mon, 22 Jun 2020 a user wrote:\r\n> Hello,\r\n>\r\n" +
			quoted(func(int) string { return "> " }) + ">\r\n> Regards\r\n\r\nThanks.\r\n", 4},
		// Line breaks moved: re-flowed at another width, or no breaks.
		{"rewrapped at 76", rewrap(76), 1},
		{"rewrapped at 37", rewrap(37), 1},
		{"rewrapped at 1", rewrap(1), 1},
		{"one line", rewrap(len(body)), 1},
		// Everything at once: an LF-only quoted Outlook body with
		// trailing tabs and blank lines.
		{"all together", strings.ReplaceAll(mapLines(
			strings.ReplaceAll(exact, "|", " | "), "\n",
			func(i int, l string) string { return []string{"> ", ">>", " > "}[i%3] + l + "\t" }),
			"\n", "\n>\n"), 1},
	}
}

func TestFindSeedMangled(t *testing.T) {
	want := record(t, seedRecords, "R2")
	for _, v := range r2Variants() {
		t.Run(v.name, func(t *testing.T) {
			blocks, err := armor.Find([]byte(v.text))
			if err != nil {
				t.Fatalf("Find: %v\n%q", err, v.text)
			}
			if len(blocks) != 1 {
				t.Fatalf("%d blocks, want 1", len(blocks))
			}
			b := blocks[0]
			if b.Body != want || b.Type != "VKLOAD.REQ.1" || b.Line != v.line {
				t.Errorf("Find = {%s, line %d}\n%s\nwant line %d\n%s", b.Type, b.Line, b.Body, v.line, want)
			}
		})
	}
}

// findErrorCase is one malformed block (or stray marker). Its lines are
// numbered from 1 within text.
type findErrorCase struct {
	name string
	text string
	want error
	line int    // Error.Line
	at   int    // Error.At
	typ  string // Error.Type
	// bodies are well-formed blocks of text that must still be found.
	bodies []string
	// last: text runs to the end of the input (nothing may follow it).
	last bool
}

// findErrorCases are the strict cases of Find, each with its sentinel and
// lines. They are also seeds of FuzzFind.
var findErrorCases = []findErrorCase{
	{name: "unterminated", text: "STS:VK.1 BEGINS\r\nVK.1|1|\r\n", want: armor.ErrUnterminated,
		line: 1, at: 2, typ: "VK.1", last: true},
	{name: "unterminated then text", text: "STS:VK.1 BEGINS\r\nVK.1|1|\r\n\r\nRegards\r\n", want: armor.ErrUnterminated,
		line: 1, at: 4, typ: "VK.1", last: true},
	{name: "unterminated, quoted", text: "> STS:VK.1 BEGINS\n> VK.1|1|\n", want: armor.ErrUnterminated,
		line: 1, at: 2, typ: "VK.1", last: true},
	{name: "nested", text: "STS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.1 BEGINS\r\nVK.1|2|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrNested, line: 1, at: 3, typ: "VK.1", bodies: []string{"VK.1|2|"}},
	{name: "nested other type", text: "STS:KLF.HDR.1 BEGINS\r\nKLF.HDR.1|x|\r\n\r\nSTS:VK.1 BEGINS\r\nVK.1|2|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrNested, line: 1, at: 4, typ: "KLF.HDR.1", bodies: []string{"VK.1|2|"}},
	{name: "nested, faulty outer", text: "STS:VK.1 BEGINS\r\nVK.1|1 1|\r\nSTS:VK.1 BEGINS\r\nVK.1|2|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrNested, line: 1, at: 3, typ: "VK.1", bodies: []string{"VK.1|2|"}},
	{name: "ENDS of another type", text: "STS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:KLF.END.1 ENDS\r\n",
		want: armor.ErrTypeMismatch, line: 1, at: 3, typ: "VK.1"},
	{name: "ENDS of a bad type", text: "STS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:vk.1 ENDS\r\n",
		want: armor.ErrTypeMismatch, line: 1, at: 3, typ: "VK.1"},
	{name: "body of another type", text: "STS:KLF.END.1 BEGINS\r\n\r\nVK.1|1|\r\nSTS:KLF.END.1 ENDS\r\n",
		want: armor.ErrTypeMismatch, line: 1, at: 3, typ: "KLF.END.1"},
	{name: "body type is a prefix", text: "STS:VK.1 BEGINS\r\nVK.10|1|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrTypeMismatch, line: 1, at: 2, typ: "VK.1"},
	{name: "stray ENDS", text: "Hello\r\nSTS:VK.1 ENDS\r\n", want: armor.ErrStrayEnd, line: 2, at: 2, typ: "VK.1"},
	{name: "stray ENDS of a bad type", text: "STS:x ENDS\r\n", want: armor.ErrStrayEnd, line: 1, at: 1},
	{name: "second ENDS", text: "STS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.1 ENDS\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrStrayEnd, line: 4, at: 4, typ: "VK.1", bodies: []string{"VK.1|1|"}},
	// A marker broken over two lines, or in lower case, is no marker: the
	// block is not seen and its ENDS is stray.
	{name: "BEGINS on its own line", text: "STS:VK.1\r\nBEGINS\r\nVK.1|1|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrStrayEnd, line: 4, at: 4, typ: "VK.1"},
	{name: "lower-case begins", text: "STS:VK.1 begins\r\nVK.1|1|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrStrayEnd, line: 3, at: 3, typ: "VK.1"},
	{name: "bad marker type", text: "STS:vk.1 BEGINS\r\nvk.1|1|\r\nSTS:vk.1 ENDS\r\n",
		want: armor.ErrBadType, line: 1, at: 1},
	{name: "marker type with a space", text: "STS:VK 1 BEGINS\r\nVK.1|1|\r\nSTS:VK 1 ENDS\r\n",
		want: armor.ErrBadType, line: 1, at: 1},
	{name: "empty marker type", text: "STS: BEGINS\r\nVK.1|1|\r\nSTS: ENDS\r\n", want: armor.ErrBadType, line: 1, at: 1},
	{name: "no-break space", text: "STS:VK.1 BEGINS\r\nVK.1|1\u00a0|2|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrBadCharacter, line: 1, at: 2, typ: "VK.1"},
	{name: "NUL", text: "STS:VK.1 BEGINS\r\nVK.1|1|\r\n2\x00|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrBadCharacter, line: 1, at: 3, typ: "VK.1"},
	{name: "vertical tab", text: "STS:VK.1 BEGINS\r\nVK.1|1|\x0b\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrBadCharacter, line: 1, at: 2, typ: "VK.1"},
	{name: "form feed line", text: "STS:VK.1 BEGINS\r\nVK.1|1|\r\n\f\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrBadCharacter, line: 1, at: 3, typ: "VK.1"},
	{name: "DEL", text: "STS:VK.1 BEGINS\r\nVK.1|1|\x7f\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrBadCharacter, line: 1, at: 2, typ: "VK.1"},
	{name: "UTF-8 letter", text: "STS:VK.1 BEGINS\r\nVK.1|é|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrBadCharacter, line: 1, at: 2, typ: "VK.1"},
	{name: "> inside a line", text: "STS:VK.1 BEGINS\r\nVK.1|1|> 2|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrBadCharacter, line: 1, at: 2, typ: "VK.1"},
	{name: "space inside a field", text: "STS:VK.1 BEGINS\r\nVK.1|12 34|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrWhitespace, line: 1, at: 2, typ: "VK.1"},
	{name: "tab inside a field", text: "STS:VK.1 BEGINS\r\nVK.1|1|\r\n2\t3|\r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrWhitespace, line: 1, at: 3, typ: "VK.1"},
	// STS 600-9-2 §5.1.4.4 as OCR'd: "|" read as spaces or "[" leaves
	// whitespace inside fields. Find does not guess.
	{name: "OCR text of the seed", text: "STS:VKLOAD.REQ.1 BEGINS\r\n" +
		"VKLOAD.REQ.1 [SMID.1:Prism:94000304:20200622T130252Z:26D7925210FB\r\n" +
		"47EA:2642|KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:\r\n" +
		"6850 20200622T144047Z Prism-TSM250-1 STS65V10 043771530383BB4B75\r\n" +
		"STS:VKLOAD.REQ.1 ENDS\r\n",
		want: armor.ErrWhitespace, line: 1, at: 2, typ: "VKLOAD.REQ.1"},
	{name: "empty", text: "STS:VK.1 BEGINS\r\nSTS:VK.1 ENDS\r\n", want: armor.ErrEmpty, line: 1, at: 2, typ: "VK.1"},
	{name: "only blank and quote lines", text: "STS:VK.1 BEGINS\r\n\r\n> \r\n>>\t\r\n \r\nSTS:VK.1 ENDS\r\n",
		want: armor.ErrEmpty, line: 1, at: 6, typ: "VK.1"},
	{name: "no separator", text: "STS:VK.1 BEGINS\r\nVK.1\r\nSTS:VK.1 ENDS\r\n", want: armor.ErrNotRecord,
		line: 1, at: 2, typ: "VK.1"},
	{name: "too long", text: "STS:VK.1 BEGINS\r\nVK.1|" + strings.Repeat(strings.Repeat("A", 64)+"\r\n", armor.MaxBodyLen/64) +
		"STS:VK.1 ENDS\r\n", want: armor.ErrTooLong, line: 1, at: 1 + armor.MaxBodyLen/64, typ: "VK.1"},
	{name: "too long, one line", text: "STS:VK.1 BEGINS\r\nVK.1|" + strings.Repeat("A", armor.MaxBodyLen) +
		"\r\nSTS:VK.1 ENDS\r\n", want: armor.ErrTooLong, line: 1, at: 2, typ: "VK.1"},
}

// goodBody is the well-formed record put before and after every error case.
const goodBody = "KLF.END.1|1|8A38495B1FE3F9A8AFD998254663AA53681FED920A9D2330|B9E9"

func TestFindErrors(t *testing.T) {
	good := mustWrap(t, goodBody) + "\r\n"
	offset := strings.Count(good, "\r\n")
	for _, tt := range findErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			// A faulty block hides neither an earlier nor a later
			// well-formed one.
			text := good + tt.text
			want := append([]string{goodBody}, tt.bodies...)
			if !tt.last {
				text += "\r\n" + good
				want = append(want, goodBody)
			}
			blocks, err := armor.Find([]byte(text))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Find error %v, want %v", err, tt.want)
			}
			fs := faults(t, err)
			if len(fs) != 1 {
				t.Fatalf("%d faults, want 1: %v", len(fs), err)
			}
			f := fs[0]
			if f.Line != tt.line+offset || f.At != tt.at+offset || f.Type != tt.typ {
				t.Errorf("fault line %d at %d type %q, want line %d at %d type %q (%v)",
					f.Line-offset, f.At-offset, f.Type, tt.line, tt.at, tt.typ, f)
			}
			var got []string
			for _, b := range blocks {
				got = append(got, b.Body)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("blocks\n%q\nwant\n%q", got, want)
			}
			if len(blocks) > 0 && blocks[0].Line != 1 {
				t.Errorf("first block at line %d", blocks[0].Line)
			}
		})
	}
}

// TestFindMultiple: a Key Load File of kms-records.md §3.5 (§3.7 records)
// and the KMC key in one mail body, each delivered differently.
func TestFindMultiple(t *testing.T) {
	r := loadRecords(t, vectorRecords)
	byName := map[string]string{}
	for _, x := range r {
		byName[x.name] = x.body
	}
	quote := func(s string) string {
		return mapLines(s, "\r\n", func(_ int, l string) string { return "> " + l })
	}
	text := "Dear user,\r\n\r\nyour key load file:\r\n" + // lines 1-3
		mustWrap(t, byName["KLF_HDR"]) + // lines 4-9 (242 bytes: 4 body lines)
		mustWrap(t, byName["VK_REC"]) + // lines 10-14 (161 bytes)
		"\r\n" + // line 15
		strings.ReplaceAll(mustWrap(t, byName["KLF_END"]), "\r\n", "\n") + // lines 16-19 (65 bytes), LF only
		"\r\nThe KMC key:\r\n" + // lines 20-21
		quote(mustWrap(t, byName["PK_ECDH"])) + // lines 22-28 (287 bytes), quoted
		"-- \r\nKMC\r\n"
	want := []armor.Block{
		{Type: "KLF.HDR.1", Body: byName["KLF_HDR"], Line: 4},
		{Type: "VK.1", Body: byName["VK_REC"], Line: 10},
		{Type: "KLF.END.1", Body: byName["KLF_END"], Line: 16},
		{Type: "PK.ECDH.1", Body: byName["PK_ECDH"], Line: 22},
	}
	blocks, err := armor.Find([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != len(want) {
		t.Fatalf("%d blocks, want %d", len(blocks), len(want))
	}
	for i := range want {
		if blocks[i] != want[i] {
			t.Errorf("block %d = {%s line %d}, want {%s line %d}", i, blocks[i].Type, blocks[i].Line, want[i].Type, want[i].Line)
		}
	}
}

// TestFindSeveralFaults: one error per faulty block, in input order, and
// the well-formed blocks between them.
func TestFindSeveralFaults(t *testing.T) {
	text := "STS:VK.1 ENDS\n" + // 1: stray
		"STS:VK.1 BEGINS\nVK.1|1 2|\nSTS:VK.1 ENDS\n" + // 2-4: whitespace
		"STS:VK.1 BEGINS\nVK.1|ok|\nSTS:VK.1 ENDS\n" + // 5-7: good
		"STS:VK.1 BEGINS\nVK.1|x|\n" + // 8-9: nested
		"STS:VK.1 BEGINS\nVK.1|y|\nSTS:VK.2 ENDS\n" + // 10-12: mismatch
		"STS:VK.1 BEGINS\n" // 13: unterminated
	blocks, err := armor.Find([]byte(text))
	if len(blocks) != 1 || blocks[0].Body != "VK.1|ok|" || blocks[0].Line != 5 {
		t.Errorf("blocks %+v", blocks)
	}
	want := []struct {
		err      error
		line, at int
	}{
		{armor.ErrStrayEnd, 1, 1},
		{armor.ErrWhitespace, 2, 3},
		{armor.ErrNested, 8, 10},
		{armor.ErrTypeMismatch, 10, 12},
		{armor.ErrUnterminated, 13, 13},
	}
	fs := faults(t, err)
	if len(fs) != len(want) {
		t.Fatalf("%d faults, want %d: %v", len(fs), len(want), err)
	}
	for i, w := range want {
		if fs[i].Err != w.err || fs[i].Line != w.line || fs[i].At != w.at {
			t.Errorf("fault %d = %v (line %d at %d), want %v line %d at %d", i, fs[i], fs[i].Line, fs[i].At, w.err, w.line, w.at)
		}
	}
}

func TestFindTooManyErrors(t *testing.T) {
	good := mustWrap(t, goodBody)
	text := strings.Repeat("STS:VK.1 ENDS\r\n", armor.MaxErrors+50) + good
	blocks, err := armor.Find([]byte(text))
	if len(blocks) != 1 || blocks[0].Body != goodBody {
		t.Errorf("the well-formed block after the faults is lost: %+v", blocks)
	}
	fs := faults(t, err)
	if len(fs) != armor.MaxErrors+1 {
		t.Fatalf("%d faults, want %d", len(fs), armor.MaxErrors+1)
	}
	last := fs[len(fs)-1]
	if !errors.Is(last, armor.ErrTooManyErrors) || last.Line != armor.MaxErrors+1 || !strings.Contains(last.Detail, "50 more") {
		t.Errorf("last fault %v (line %d)", last, last.Line)
	}
}

func TestFindNothing(t *testing.T) {
	for _, text := range []string{"", "\r\n", "Hello\r\n\r\nRegards\r\n", "STS:VK.1\r\n", "BEGINS\r\nENDS\r\n"} {
		blocks, err := armor.Find([]byte(text))
		if blocks != nil || err != nil {
			t.Errorf("Find(%q) = %v, %v", text, blocks, err)
		}
	}
}

// TestFaults: nil has no faults, a single *Error is its own one fault, and
// an errors.Join gives its parts in order.
func TestFaults(t *testing.T) {
	if fs := armor.Faults(nil); fs != nil {
		t.Errorf("Faults(nil) = %v", fs)
	}
	_, single := armor.Wrap("vk.1|1|")
	if fs := armor.Faults(single); len(fs) != 1 || fs[0] != single {
		t.Errorf("Faults(%v) = %v", single, fs)
	}
	_, joined := armor.Find([]byte("STS:VK.1 ENDS\r\nSTS:VK.2 ENDS\r\n"))
	fs := armor.Faults(joined)
	if len(fs) != 2 || !strings.Contains(fs[0].Error(), "line 1:") || !strings.Contains(fs[1].Error(), "line 2:") {
		t.Errorf("Faults(%v) = %v", joined, fs)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"a\r\nSTS:VK.1 BEGINS\r\nVK.1|12 34|\r\nSTS:VK.1 ENDS\r\n",
			"armor: line 2: STS:VK.1 block: whitespace inside a field: line 3 column 8: space"},
		{"STS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.2 ENDS\r\n",
			`armor: line 1: STS:VK.1 block: record type mismatch: ENDS at line 3 names "VK.2"`},
		{"STS:vk.1 BEGINS\r\nx\r\nSTS:vk.1 ENDS\r\n",
			`armor: line 1: bad record type: "vk.1"`},
		{"\r\n\r\nSTS:VK.1 ENDS", "armor: line 3: STS:VK.1 block: ENDS without BEGINS"},
		{">  STS:VK.1 BEGINS\r\n>  VK.1|1\x01|\r\nSTS:VK.1 ENDS\r\n",
			"armor: line 1: STS:VK.1 block: character not allowed in a record: line 2 column 10: byte 0x01"},
	}
	for _, tt := range tests {
		_, err := armor.Find([]byte(tt.text))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Find(%q) error\n%v\nwant\n%s", tt.text, err, tt.want)
		}
	}
	if got := (&armor.Error{Err: armor.ErrNoRecords}).Error(); got != "armor: no records" {
		t.Errorf("ErrNoRecords: %s", got)
	}
}
