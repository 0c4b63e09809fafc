package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/sts"
)

// eachFlag calls fn with every flag of every command.
func eachFlag(t *testing.T, fn func(cmd string, f *flag.Flag)) {
	t.Helper()
	eachCommand(t, func(cmd string, fs *flagSet) {
		fs.visitAll(func(f *flag.Flag) { fn(cmd, f) })
	})
}

// eachCommand calls fn with the flags of every command (its path joined
// by spaces); a command whose flags cannot be inspected fails t.
func eachCommand(t *testing.T, fn func(cmd string, fs *flagSet)) {
	t.Helper()
	var walk func(cmds map[string]*command, path []string)
	walk = func(cmds map[string]*command, path []string) {
		for name, c := range cmds {
			p := append(append([]string(nil), path...), name)
			if c.sub != nil {
				walk(c.sub, p)
				continue
			}
			fs, err := inspectFlags(&env{getenv: func(string) string { return "" }}, p)
			if err != nil {
				t.Errorf("%s: %v", strings.Join(p, " "), err)
				continue
			}
			fn(strings.Join(p, " "), fs)
		}
	}
	walk(commands(), nil)
}

// digitFlagWidth is the width of the digit fields by flag name (the
// part after a "to-", "new-" or "vk-" prefix).
var digitFlagWidth = map[string]int{"sgc": 6, "ti": 2, "krn": 1, "kt": 1, "type": 1}

func digitField(name string) (string, bool) {
	for _, p := range []string{"to-", "new-", "vk-"} {
		name = strings.TrimPrefix(name, p)
	}
	_, ok := digitFlagWidth[name]
	return name, ok
}

// TestDigitFlagsEverywhere walks every flag of every command: each SGC,
// TI, KRN and key type flag is a digitsFlag (never flag.Int, whose base
// prefixes read "012345" as octal), and each refuses signs, base
// prefixes, other scripts' digits and wrong widths, and keeps a leading
// zero a digit.
func TestDigitFlagsEverywhere(t *testing.T) {
	seen := 0
	eachFlag(t, func(cmd string, f *flag.Flag) {
		field, ok := digitField(f.Name)
		if !ok || (field == "type" && f.Name != "vk-type") {
			return
		}
		d, ok := f.Value.(*digitsFlag)
		if !ok {
			t.Errorf("%s --%s is a %T, not a digit string flag", cmd, f.Name, f.Value)
			return
		}
		seen++
		width := digitFlagWidth[field]
		good := map[int]string{6: "012345", 2: "08", 1: "2"}[width]
		// A fresh copy, so that the command's flag set is not changed.
		c := &digitsFlag{name: d.name, parse: d.parse}
		if err := c.Set(good); err != nil || c.String() != good {
			t.Errorf("%s --%s %s: %v (value %q)", cmd, f.Name, good, err, c.String())
		}
		if field == "sgc" && c.v != 12345 {
			t.Errorf("%s --sgc 012345 = %d, want supply group 012345", cmd, c.v)
		}
		if field == "ti" && c.v != 8 {
			t.Errorf("%s --ti 08 = %d, want 8", cmd, c.v)
		}
		bad := append([]string{
			strings.Repeat("1", width-1), strings.Repeat("1", width+1), "+" + good[1:], "-" + good[1:],
			"0x" + good[:max(0, width-2)], "0o" + good[:max(0, width-2)], "0b" + good[:max(0, width-2)],
			strings.Repeat("١", width), strings.Repeat("０", width), " " + good, good + " ", good[:width-1] + "a",
		}, "", "1e5", "0x", "٣")
		for _, s := range bad {
			if s == good || (width == 1 && len(s) == 1 && s[0] >= '1' && s[0] <= '3') {
				continue
			}
			c := &digitsFlag{name: d.name, parse: d.parse}
			err := c.Set(s)
			var de *sts.DigitsError
			if !errors.As(err, &de) {
				t.Errorf("%s --%s %q = %v; want a DigitsError", cmd, f.Name, s, err)
			}
		}
	})
	if seen < 15 {
		t.Errorf("only %d digit flags found", seen)
	}
}

func TestDigitFlagsOnTheCommandLine(t *testing.T) {
	base := []string{"token", "decoder-key", "--dkga", "02", "--vk", "abababababababab", "--pan", "600727000000000009"}
	key := func(args ...string) (int, string, string) {
		return stskms("", append(append([]string(nil), base...), args...)...)
	}
	// SGC 012345 derives the key of supply group 012345, which is not that
	// of 5349 (012345 read as octal).
	c1, k012345, e1 := key("--sgc", "012345", "--ti", "08", "--krn", "1")
	c2, k005349, _ := key("--sgc", "005349", "--ti", "08", "--krn", "1")
	c3, k012345b, _ := key("--sgc", "012345", "--ti", "08", "--krn", "1")
	if c1 != 0 || c2 != 0 || c3 != 0 || k012345 == k005349 || k012345 != k012345b {
		t.Errorf("--sgc 012345: %d %q %q, 005349: %d %q", c1, k012345, e1, c2, k005349)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--sgc", "12345"}, "SGC must be 6 decimal digits"},
		{[]string{"--sgc", "0x3039"}, "SGC must be 6 decimal digits"},
		{[]string{"--sgc", "012345", "--ti", "8"}, "TI must be 2 decimal digits"},
		{[]string{"--sgc", "012345", "--krn", "15"}, "KRN must be 1 decimal digit, 1 to 9"},
		{[]string{"--sgc", "012345", "--krn", "0"}, "KRN must be 1 decimal digit, 1 to 9"},
		{[]string{"--krn", "1"}, "give --sgc"},
	} {
		code, out, errOut := key(tt.args...)
		if code == 0 || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q, %q; want %q", tt.args, code, out, errOut, tt.want)
		}
	}
	// The environment and the configuration file go through the same
	// parser: a TOML integer cannot have a leading zero, a string can.
	for _, tt := range []struct {
		toml string
		ok   bool
	}{
		{"[token.decoder-key]\nsgc = \"012345\"\nti = \"08\"\n", true},
		{"[token.decoder-key]\nsgc = 12345\n", false},
		{"[token.decoder-key]\nsgc = \"12345\"\n", false},
		{"[token.decoder-key]\nsgc = \"012345\"\nkrn = 12\n", false},
	} {
		path := filepath.Join(t.TempDir(), "c.toml")
		if err := os.WriteFile(path, []byte(tt.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := key("--config", path)
		if (code == 0) != tt.ok || (tt.ok && out != k012345) {
			t.Errorf("config %q: exit %d, %q, %q", tt.toml, code, out, errOut)
		}
	}
}

func TestKMCSGCAddRefusesShortSGC(t *testing.T) {
	dir := initTestKMC(t)
	code, out, errOut := stskms("", "kmc", "sgc", "add", "--dir", dir, "--sgc", "60012")
	if code == 0 || !strings.Contains(errOut, "SGC must be 6 decimal digits") {
		t.Errorf("kmc sgc add --sgc 60012: exit %d, %q, %q", code, out, errOut)
	}
	if code, out, errOut := stskms("", "kmc", "sgc", "add", "--dir", dir, "--sgc", "060012"); code != 0 || !strings.Contains(out, "supply group 060012 added") {
		t.Errorf("kmc sgc add --sgc 060012: exit %d, %q, %q", code, out, errOut)
	}
	if _, out, _ := stskms("", "kmc", "sgc", "list", "--dir", dir); strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "060012") {
		t.Errorf("kmc sgc list: %q; want only 060012", out)
	}
}

// TestNoFlagReadsBasePrefixes walks every flag of every command: none is
// one of the flag package's numeric flags, which read "010" as octal 8;
// each numeric flag reads "010" as ten and refuses "0x10", "0b1", "0o7"
// and "1_000".
func TestNoFlagReadsBasePrefixes(t *testing.T) {
	numeric := 0
	eachFlag(t, func(cmd string, f *flag.Flag) {
		typ := fmt.Sprintf("%T", f.Value)
		if strings.HasPrefix(typ, "*flag.") && strings.Contains(strings.ToLower(typ), "int") {
			t.Errorf("%s --%s is a %s, which reads base prefixes", cmd, f.Name, typ)
			return
		}
		if !strings.HasPrefix(typ, "main.decimal[") {
			return
		}
		numeric++
		if err := f.Value.Set("010"); err != nil || f.Value.String() != "10" {
			t.Errorf("%s --%s 010 = %s, %v; want ten", cmd, f.Name, f.Value.String(), err)
		}
		for _, s := range []string{"0x10", "0X10", "0b1", "0o7", "1_000", "", " 1", "١", "1e3"} {
			if err := f.Value.Set(s); err == nil {
				t.Errorf("%s --%s %q accepted (%s)", cmd, f.Name, s, f.Value.String())
			}
		}
	})
	if numeric < 30 {
		t.Errorf("only %d numeric flags found", numeric)
	}
}

func TestDecimalFlagRanges(t *testing.T) {
	fs := newFlags("x", "", "")
	i := fs.Int("i", -1, "")
	u := fs.Uint("u", 1, "")
	i64 := fs.Int64("i64", 0, "")
	u64 := fs.Uint64("u64", 0, "")
	if *i != -1 || *u != 1 {
		t.Fatalf("defaults %d %d", *i, *u)
	}
	if err := fs.FlagSet.Parse([]string{"-i", "-012", "-u", "007", "-i64", "-9223372036854775808", "-u64", "18446744073709551615"}); err != nil {
		t.Fatal(err)
	}
	if *i != -12 || *u != 7 || *i64 != -1<<63 || *u64 != 1<<64-1 {
		t.Errorf("got %d %d %d %d", *i, *u, *i64, *u64)
	}
	for _, args := range [][]string{{"-u", "-1"}, {"-u64", "18446744073709551616"}, {"-i64", "9223372036854775808"}} {
		if err := fs.FlagSet.Parse(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
