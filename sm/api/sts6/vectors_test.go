package sts6_test

import (
	"crypto/ecdh"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sm/api/sts6"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// The vector files (testdata/*.txt) pin the frames of every command. Each
// line is one of:
//
//	# comment
//	@CN BODY[|CRC]   send the query BODY (CRC and CR added) on the
//	                 connection of client certificate CN ("plain": plain
//	                 TCP; "CN#2" a second connection of CN); with |CRC,
//	                 the CRC written must be the body's
//	!CN TEXT         send TEXT and CR as they are (a broken frame)
//	= BODY[|CRC]     the reply: its body must match, and its CRC with
//	                 |CRC; {name} is a value of the run, {=name} takes
//	                 the field's value as name, {*} is any value
//	+klf             the test KMC answers the request {req} with its Key
//	                 Load File, records {klf0}, {klf1}, …
//
// Values of a run: {kmc} the test KMC's PK.ECDH.1, {fp} its fingerprint,
// {kmcid}, {smid}, {second} the bearer token of a second officer,
// {secondop} an operator's token.

// kmcKey is the test KMC: keyagree.TestKey("sts-test-kmc").
type kmcKey struct {
	key    *ecdh.PrivateKey
	kmcid  records.PKID
	record string
}

func newKMC(t *testing.T) kmcKey {
	t.Helper()
	k, err := apitest.NewKMC("sts-test-kmc", "TestKMC", "K0001", t0.AddDate(5, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return kmcKey{key: k.Key, kmcid: k.PKID, record: k.Record}
}

// testVKs are the keys of the test Key Load File: registers (123456, 1,
// DUTK) and (123456, 2, DUTK), DKGA04/EA11, base date 2014, fixed keys.
func testVKs() []keyload.VendingKey {
	var out []keyload.VendingKey
	for krn := 1; krn <= 2; krn++ {
		key := make([]byte, dkga.DKGA04.VendingKeySize())
		for i := range key {
			key[i] = byte(krn*16 + i)
		}
		out = append(out, keyload.VendingKey{SGC: 123456, KRN: krn, KT: int(sts.DUTK), BDT: int(sts.BaseDate2014),
			DKGA: int(dkga.DKGA04), EA: int(sts.EA11), KEN: 255, ACT: t0.AddDate(-1, 0, 0), IUT: t0.AddDate(1, 0, 0),
			CLM: 1_000_000, Key: key})
	}
	return out
}

func fpOf(k kmcKey) string { return records.Fingerprint(k.record).String() }

// issueKLF answers a VKLOAD.REQ.1 with the test Key Load File.
func (k kmcKey) issueKLF(t *testing.T, reqBody string) []string {
	t.Helper()
	req, err := records.ParseVKLoadReq(reqBody)
	if err != nil {
		t.Fatal(err)
	}
	klf, err := keyload.Issue(keyload.Module{Key: k.key, PKID: k.kmcid}, req, testVKs(), t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return klf
}

var placeholder = regexp.MustCompile(`\{(=?)([a-z0-9*]+)\}`)

// vectorRun runs one vector file.
type vectorRun struct {
	t      *testing.T
	e      *env
	kmc    kmcKey
	values map[string]string
	conns  map[string]*conn
	last   string // the last query, for messages
}

func (v *vectorRun) conn(cn string) *conn {
	if c, ok := v.conns[cn]; ok {
		return c
	}
	name, _, _ := strings.Cut(cn, "#")
	if name == "plain" {
		name = ""
	}
	c := v.e.dial(name)
	v.conns[cn] = c
	return c
}

// substitute fills the {name} placeholders of a query.
func (v *vectorRun) substitute(n int, s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(p string) string {
		m := placeholder.FindStringSubmatch(p)
		val, ok := v.values[m[2]]
		if m[1] != "" || !ok {
			v.t.Fatalf("line %d: no value for %s", n, p)
		}
		return val
	})
}

// splitCRC cuts "BODY|CRC".
func splitCRC(s string) (body, crc string) {
	if i := strings.LastIndexByte(s, '|'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func crcOf(body string) string { return fmt.Sprintf("%04X", sts6.CRC16ARC([]byte(body))) }

// send sends a query line and returns the reply body.
func (v *vectorRun) send(n int, line string, raw bool) string {
	cn, rest, _ := strings.Cut(line[1:], " ")
	var q []byte
	if raw {
		q = []byte(rest + "\r")
	} else {
		body, crc := splitCRC(rest)
		body = v.substitute(n, body)
		if crc != "" && crc != crcOf(body) {
			v.t.Fatalf("line %d: CRC %s written, the body's is %s", n, crc, crcOf(body))
		}
		q = []byte(body + crcOf(body) + "\r")
	}
	v.last = string(q)
	reply := v.conn(cn).ask(q)
	if _, err := sts6.Parse(reply); err != nil {
		v.t.Fatalf("line %d: reply %q does not parse: %v", n, reply, err)
	}
	return string(reply[:len(reply)-5])
}

// expect matches a reply body against a reply line.
func (v *vectorRun) expect(n int, got, want string) {
	pattern, crc := splitCRC(want)
	var re strings.Builder
	var names []string
	re.WriteString("^")
	rest := pattern
	for _, loc := range placeholder.FindAllStringSubmatchIndex(pattern, -1) {
		re.WriteString(regexp.QuoteMeta(pattern[len(pattern)-len(rest) : loc[0]]))
		rest = pattern[loc[1]:]
		capture, name := pattern[loc[2]:loc[3]] != "", pattern[loc[4]:loc[5]]
		switch {
		case name == "*":
			re.WriteString("[^~]*")
		case capture:
			re.WriteString("([^~]*)")
			names = append(names, name)
		default:
			val, ok := v.values[name]
			if !ok {
				v.t.Fatalf("line %d: no value for {%s}", n, name)
			}
			re.WriteString(regexp.QuoteMeta(val))
		}
	}
	re.WriteString(regexp.QuoteMeta(rest) + "$")
	m := regexp.MustCompile(re.String()).FindStringSubmatch(got)
	if m == nil {
		v.t.Fatalf("line %d: query %q\nreply %q\nwant  %q", n, v.last, got, want)
	}
	for i, name := range names {
		v.values[name] = m[i+1]
	}
	if crc != "" && crc != crcOf(got) {
		v.t.Fatalf("line %d: reply CRC %s, written %s", n, crcOf(got), crc)
	}
}

func (v *vectorRun) run(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		v.t.Fatal(err)
	}
	var reply string
	for i, line := range strings.Split(string(b), "\n") {
		n := i + 1
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '@' || line[0] == '!':
			reply = v.send(n, line, line[0] == '!')
		case strings.HasPrefix(line, "= "):
			v.expect(n, reply, line[2:])
		case line == "+klf":
			for j, r := range v.kmc.issueKLF(v.t, v.values["req"]) {
				v.values[fmt.Sprint("klf", j)] = r
			}
		default:
			v.t.Fatalf("line %d: %q", n, line)
		}
	}
}

// TestVectors runs every testdata/*.txt against a fresh test module with a
// fixed clock, on SQLite and PostgreSQL.
func TestVectors(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				e := newEnv(t, db, sm.Actor{})
				k := newKMC(t)
				v := &vectorRun{t: t, e: e, kmc: k, conns: map[string]*conn{}, values: map[string]string{
					"kmc": k.record, "fp": fpOf(k), "kmcid": k.kmcid.String(),
					"smid": e.m.Identify().SMID.String(), "second": e.tokens.Token(sm.Officer), "secondop": e.tokens.Token(sm.Operator),
				}}
				v.run(f)
			})
		})
	}
}
