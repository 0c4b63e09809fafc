package armor_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/records/armor"
)

// klfBodies are the three records of the §3.7 Key Load File
// (kms-records.md §3.5): header, one vending key, trailer.
func klfBodies(tb testing.TB) []string {
	tb.Helper()
	return []string{
		record(tb, vectorRecords, "KLF_HDR"),
		record(tb, vectorRecords, "VK_REC"),
		record(tb, vectorRecords, "KLF_END"),
	}
}

// TestFileRoundTrip: File writes the blocks with an empty line between
// them (kms-records.md §3.1), and ParseFile reads them back, whatever the
// line ends and blank lines.
func TestFileRoundTrip(t *testing.T) {
	bodies := klfBodies(t)
	out, err := armor.File(bodies...)
	if err != nil {
		t.Fatal(err)
	}
	want := mustWrap(t, bodies[0]) + "\r\n" + mustWrap(t, bodies[1]) + "\r\n" + mustWrap(t, bodies[2])
	if string(out) != want {
		t.Fatalf("File =\n%q\nwant\n%q", out, want)
	}
	variants := []struct {
		name  string
		text  string
		lines []int
	}{
		{"as written", string(out), []int{1, 8, 14}},
		{"LF only", strings.ReplaceAll(string(out), "\r\n", "\n"), []int{1, 8, 14}},
		{"no blank lines", strings.ReplaceAll(string(out), "ENDS\r\n\r\n", "ENDS\r\n"), []int{1, 7, 12}},
		{"blank lines around", "\r\n \t\r\n" + strings.ReplaceAll(string(out), "ENDS\r\n\r\n", "ENDS\r\n\r\n\t\r\n") + "\r\n\r\n",
			[]int{3, 11, 18}},
		{"no final line end", strings.TrimSuffix(string(out), "\r\n"), []int{1, 8, 14}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			blocks, err := armor.ParseFile([]byte(v.text))
			if err != nil {
				t.Fatal(err)
			}
			if len(blocks) != len(bodies) {
				t.Fatalf("%d blocks, want %d", len(blocks), len(bodies))
			}
			for i, b := range blocks {
				if b.Body != bodies[i] || b.Line != v.lines[i] {
					t.Errorf("block %d = {%s line %d}, want line %d", i, b.Type, b.Line, v.lines[i])
				}
			}
		})
	}
}

func TestFileSingle(t *testing.T) {
	// A file holding only the §3.7 request is exactly its block.
	body := record(t, vectorRecords, "VKLOAD_REQ")
	out, err := armor.File(body)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != mustWrap(t, body) {
		t.Errorf("File =\n%q", out)
	}
}

func TestFileErrors(t *testing.T) {
	good := record(t, vectorRecords, "VK_REC")
	tests := []struct {
		name   string
		bodies []string
		want   error
		detail string
	}{
		{"no bodies", nil, armor.ErrNoRecords, ""},
		{"second body empty", []string{good, ""}, armor.ErrEmpty, "record 2"},
		{"third body has a space", []string{good, good, "VK.1|1 2|"}, armor.ErrWhitespace, "record 3: offset 6: space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := armor.File(tt.bodies...)
			var ae *armor.Error
			if !errors.Is(err, tt.want) || !errors.As(err, &ae) || ae.Detail != tt.detail || ae.Line != 0 {
				t.Fatalf("File error %#v, want %v with detail %q", err, tt.want, tt.detail)
			}
			if out != nil {
				t.Error("output with an error")
			}
		})
	}
}

// parseFileErrorCases are files ParseFile rejects (also seeds of
// FuzzParseFile). line is the Line of the first fault.
var parseFileErrorCases = []struct {
	name string
	text string
	want error
	line int
}{
	{"empty", "", armor.ErrNoRecords, 0},
	{"blank lines only", "\r\n\r\n \t\r\n", armor.ErrNoRecords, 0},
	{"text before", "Key load file\r\n" + "STS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.1 ENDS\r\n", armor.ErrStrayText, 1},
	{"text between", "STS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.1 ENDS\r\n\r\n--\r\n\r\nSTS:VK.1 BEGINS\r\nVK.1|2|\r\nSTS:VK.1 ENDS\r\n",
		armor.ErrStrayText, 5},
	{"text after", "STS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.1 ENDS\r\nRegards\r\nUser\r\n", armor.ErrStrayText, 4},
	{"text only", "just text", armor.ErrStrayText, 1},
	{"byte-order mark", "\ufeffSTS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.1 ENDS\r\n", armor.ErrStrayText, 1},
	{"quoted block", "> STS:VK.1 BEGINS\r\n> VK.1|1|\r\n> STS:VK.1 ENDS\r\n", armor.ErrStrayText, 1},
	{"quoted body line", "STS:VK.1 BEGINS\r\n> VK.1|1|\r\nSTS:VK.1 ENDS\r\n", armor.ErrBadCharacter, 1},
	{"stray ENDS", "STS:VK.1 ENDS\r\n", armor.ErrStrayEnd, 1},
	{"unterminated", "STS:VK.1 BEGINS\r\nVK.1|1|\r\n", armor.ErrUnterminated, 1},
	{"nested", "STS:VK.1 BEGINS\r\nSTS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.1 ENDS\r\n", armor.ErrNested, 1},
	{"type mismatch", "STS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.2 ENDS\r\n", armor.ErrTypeMismatch, 1},
	{"whitespace in field", "STS:VK.1 BEGINS\r\nVK.1|1 1|\r\nSTS:VK.1 ENDS\r\n", armor.ErrWhitespace, 1},
}

func TestParseFileErrors(t *testing.T) {
	for _, tt := range parseFileErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			blocks, err := armor.ParseFile([]byte(tt.text))
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseFile error %v, want %v", err, tt.want)
			}
			if blocks != nil {
				t.Errorf("ParseFile returned %d blocks with an error", len(blocks))
			}
			if fs := faults(t, err); fs[0].Line != tt.line {
				t.Errorf("first fault %v at line %d, want %d", fs[0], fs[0].Line, tt.line)
			}
		})
	}
}

// TestParseFileStrayRuns: one ErrStrayText per run of stray lines.
func TestParseFileStrayRuns(t *testing.T) {
	text := "a\r\nb\r\n\r\nSTS:VK.1 BEGINS\r\nVK.1|1|\r\nSTS:VK.1 ENDS\r\nc\r\nd\r\n\r\ne\r\n"
	_, err := armor.ParseFile([]byte(text))
	fs := faults(t, err)
	var lines []int
	for _, f := range fs {
		if f.Err != armor.ErrStrayText {
			t.Errorf("fault %v", f)
		}
		lines = append(lines, f.Line)
	}
	if len(lines) != 3 || lines[0] != 1 || lines[1] != 7 || lines[2] != 10 {
		t.Errorf("stray text at lines %v, want [1 7 10]", lines)
	}
}

func TestFileName(t *testing.T) {
	// kms-records.md §3.1: "<SMID-id>_<yyyymmddThhmmssZ>.<ext>", .klf
	// for key load files; t_issue of the §3.7 KLF header.
	issue := time.Date(2025, 1, 3, 12, 15, 0, 0, time.UTC)
	sast := time.FixedZone("SAST", 2*60*60)
	tests := []struct {
		id   string
		t    time.Time
		ext  string
		want string
	}{
		{"94000001", issue, "klf", "94000001_20250103T121500Z.klf"},
		{"94000001", issue.In(sast), "klf", "94000001_20250103T121500Z.klf"}, // always UTC
		{"94000304", time.Date(2020, 6, 22, 14, 40, 47, 999e6, time.UTC), ".txt", "94000304_20200622T144047Z.txt"},
		{"K0001", issue, "", "K0001_20250103T121500Z"},
		{"../etc/passwd", issue, "klf", ".._etc_passwd_20250103T121500Z.klf"},
		{"a b", issue, "k/lf", "a_b_20250103T121500Z.k_lf"},
	}
	for _, tt := range tests {
		if got := armor.FileName(tt.id, tt.t, tt.ext); got != tt.want {
			t.Errorf("FileName(%q, %v, %q) = %q, want %q", tt.id, tt.t, tt.ext, got, tt.want)
		}
	}
}
