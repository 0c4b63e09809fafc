package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
)

func runRecordsParse(e *env, args []string) error {
	fs := newFlags("records parse", "[FILE|-]",
		"Reads a whole mail body, a file of records or one-line records (default: standard input)\n"+
			"and prints each record found as one JSON object per line: type, fields by name, and\n"+
			"each CRC with its printed and computed value. Exit status 0 if every record is valid,\n"+
			"1 if any is not (the reasons on standard error), 2 if no record was found.")
	data, err := fs.parseInput(e, args)
	if err != nil {
		return err
	}
	blocks, findErr := findRecords(data)
	if len(blocks) == 0 && findErr == nil {
		fmt.Fprintln(e.stderr, "stskms records parse: no record found")
		return errUsage
	}
	invalid := reportFindErrors(e, findErr)
	for _, b := range blocks {
		obj, err := describeRecord(b)
		printJSON(e.stdout, obj)
		if err != nil {
			fmt.Fprintf(e.stderr, "stskms records parse: line %d: %s\n", b.Line, oneLine(err.Error()))
			invalid++
		}
	}
	if invalid > 0 {
		return errSilent
	}
	return nil
}

// errSilent fails a command whose reasons are already on standard error.
var errSilent = errors.New("")

// parseInput parses the command line of a command that reads one file
// (see readInput) and returns what it read.
func (fs *flagSet) parseInput(e *env, args []string) ([]byte, error) {
	pos, err := fs.parse(e, args)
	if err != nil {
		return nil, err
	}
	return readInput(e, pos)
}

// readInput reads the file named by the only positional argument, or
// standard input for none or "-".
func readInput(e *env, pos []string) ([]byte, error) {
	switch {
	case len(pos) > 1:
		return nil, usageError("give one file (or - for standard input)")
	case len(pos) == 0 || pos[0] == "-":
		return io.ReadAll(e.stdin)
	}
	return os.ReadFile(pos[0])
}

// findRecords finds Record-in-Email blocks; input without any block is read
// as one-line records, one per line.
func findRecords(data []byte) ([]armor.Block, error) {
	blocks, err := armor.Find(data)
	if len(blocks) > 0 || err != nil {
		return blocks, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), armor.MaxBodyLen+2)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if typ, _, ok := strings.Cut(line, "|"); ok && records.Lookup(typ) != nil {
			blocks = append(blocks, armor.Block{Type: typ, Body: line, Line: n})
		}
	}
	return blocks, sc.Err()
}

// reportFindErrors prints each malformed block and returns how many.
func reportFindErrors(e *env, err error) int {
	errs := armor.Faults(err)
	for _, err := range errs {
		fmt.Fprintf(e.stderr, "stskms records parse: %s\n", oneLine(err.Error()))
	}
	return len(errs)
}

// describeRecord parses one block into its JSON description; the error is
// the record's verdict.
func describeRecord(b armor.Block) (fields, error) {
	obj := fields{{"type", b.Type}, {"line", b.Line}}
	r, err := records.Parse(b.Body)
	if r == nil {
		return append(obj, field{"valid", false}, field{"error", err.Error()}), err
	}
	values := make(fields, 0, len(r.Fields()))
	for _, f := range r.Fields() {
		values = append(values, field{f.Name, f.Text})
	}
	var crcs []fields
	for _, c := range r.CRCs() {
		crcs = append(crcs, fields{{"field", c.Field}, {"printed", fmt.Sprintf("%04X", c.Printed)},
			{"computed", fmt.Sprintf("%04X", c.Computed)}, {"crc_ok", c.OK}})
	}
	obj = append(obj, field{"valid", err == nil}, field{"fields", values}, field{"crcs", crcs}, field{"crc_ok", r.CRCsOK()})
	if r.Type() == records.PKECDHSpec.Type() {
		obj = append(obj, field{"fingerprint", records.Fingerprint(b.Body).String()})
	}
	return obj, err
}

func runRecordsWrap(e *env, args []string) error {
	fs := newFlags("records wrap", "[FILE|-]",
		"Turns one-line records (one per line; default: standard input) into Record-in-Email\n"+
			"form: STS:<type> BEGINS, the record in lines of 64 characters, STS:<type> ENDS, CRLF.")
	data, err := fs.parseInput(e, args)
	if err != nil {
		return err
	}
	wrapped := 0
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		out, err := armor.Wrap(line)
		if err != nil {
			return err
		}
		e.stdout.Write(out)
		wrapped++
	}
	if wrapped == 0 {
		fmt.Fprintln(e.stderr, "stskms records wrap: no record given")
		return errUsage
	}
	return nil
}
