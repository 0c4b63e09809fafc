package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
)

// Key Load Files, and the TEST-ONLY stand-in module of a test KMC.

func runKMCKLFIssue(e *env, args []string) error {
	fs := newFlags("kmc klf issue", "--dir DIR --request FILE [--out FILE | --out-dir DIR]",
		"Answers a VKLOAD.REQ.1 (a mail body, a file of records or the one-line record) with a Key\n"+
			"Load File, written as a file of records to --out, or to --out-dir under its attachment\n"+
			"name (<SMID id>_<time>.klf; default: the current directory). A refusal prints its code\n"+
			"(as the gateway sends it) and exits with status 1.")
	f := addKMCFlags(e, fs)
	reqFile := fs.String("request", "", "the VKLOAD.REQ.1 (required; - for standard input)")
	out := fs.String("out", "", "write the Key Load File here")
	outDir := fs.String("out-dir", ".", "or into this directory, under its attachment name")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		text, err := readFileArg(e, "request", *reqFile)
		if err != nil {
			return err
		}
		klf, err := k.IssueKLFText(context.Background(), f.as, text)
		if err != nil {
			return printRefusal(e, err)
		}
		path := *out
		if path == "" {
			path = filepath.Join(*outDir, klf.FileName)
		}
		if err := os.WriteFile(path, klf.File, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Key Load File for %s: %s, written to %s\n", klf.SMID, count(len(klf.Keys), "vending key", "vending keys"), path)
		for _, ik := range klf.Keys {
			fmt.Fprintf(e.stdout, "  SGC %06d  %s  KRN %d  KCV %s\n", ik.SGC, ik.Type, ik.KRN, ik.KCV)
		}
		if len(klf.Emails) > 0 {
			fmt.Fprintf(e.stdout, "may be sent to: %s\n", strings.Join(klf.Emails, ", "))
		}
		return nil
	})
}

// testSMFlags name the stand-in module of kmc testsm.
type testSMFlags struct {
	label, vendor, id, model, firmware string
}

func addTestSMFlags(fs *flagSet) *testSMFlags {
	s := &testSMFlags{}
	fs.StringVar(&s.label, "label", "sts-test-sm", "label of the public TEST key (keyagree.TestKey)")
	fs.StringVar(&s.vendor, "vendor", "TestVendor", "SMID vendor")
	fs.StringVar(&s.id, "id", "94000001", "SMID id")
	fs.StringVar(&s.model, "model", "Test-SSM-1", "model")
	fs.StringVar(&s.firmware, "firmware", "SSM1V100", "firmware, 8 characters")
	return s
}

// testSMKeyTime is the key time of every stand-in module's SMID, that of
// the kms-records.md §3.7 vectors.
var testSMKeyTime = time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)

func (s *testSMFlags) module() (keyload.Module, error) {
	key, err := keyagree.TestKey(s.label)
	if err != nil {
		return keyload.Module{}, err
	}
	pkid, err := records.NewPKID(records.SMID, s.vendor, s.id, testSMKeyTime, key.PublicKey())
	if err != nil {
		return keyload.Module{}, err
	}
	return keyload.Module{Key: key, PKID: pkid}, nil
}

// openTestKMC opens a KMC for kmc testsm: only a test-mode one.
func openTestKMC(e *env, f *kmcFlags) (*kmc.KMC, error) {
	if f.dir == "" {
		return nil, kmcDir.errNoDir()
	}
	if m, err := kmc.DirMode(f.dir); err != nil {
		return nil, err
	} else if m != kmc.ModeTest {
		return nil, fmt.Errorf("kmc testsm works with a test-mode KMC only; its keys are public")
	}
	password, err := f.dbPassword(e)
	if err != nil {
		return nil, err
	}
	k, err := kmc.OpenDir(context.Background(), f.dir, kmc.OpenOptions{Release: f.release.policy(), DBPassword: password})
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(e.stderr, kmc.TestModeWarning)
	fmt.Fprintln(e.stderr, "TEST ONLY: a stand-in security module whose private key is public (keyagree.TestKey)")
	return k, nil
}

func runKMCTestSMRequest(e *env, args []string) error {
	fs := newFlags("kmc testsm request", "--dir DIR [--label L] [--id ID] [--out FILE]",
		"TEST ONLY. Makes the VKLOAD.REQ.1 of a stand-in security module for the current key of\n"+
			"the test-mode KMC in DIR, in Record-in-Email form. The module's key is the public test\n"+
			"key of --label: anyone can compute it. Refuses a live KMC.")
	f := addKMCFlags(e, fs)
	s := addTestSMFlags(fs)
	out := fs.String("out", "", "write the request here (default: standard output)")
	var at timeFlag
	fs.Var(&at, "at", "request time (default now)")
	return f.runTest(e, fs, args, func(k *kmc.KMC) error {
		key, err := k.CurrentKey(context.Background())
		if err != nil {
			return err
		}
		mod, err := s.module()
		if err != nil {
			return err
		}
		t := at.t
		if t.IsZero() {
			t = time.Now()
		}
		req, err := keyload.NewRequest(mod, key.Record, t, s.model, s.firmware)
		if err != nil {
			return err
		}
		block, err := wrapRecord(req)
		if err != nil {
			return err
		}
		return writeOut(e, *out, block)
	})
}

func runKMCTestSMOpen(e *env, args []string) error {
	fs := newFlags("kmc testsm open", "--dir DIR --request FILE --klf FILE [--label L] [--id ID]",
		"TEST ONLY. Opens a Key Load File as the stand-in module that made --request would\n"+
			"(keyload.Open: header, MAC, every key unwrapped and checked against its KCV) and prints\n"+
			"each key's attributes and KCV, never the key.")
	f := addKMCFlags(e, fs)
	s := addTestSMFlags(fs)
	reqFile := fs.String("request", "", "the request the file answers (required)")
	klfFile := fs.String("klf", "", "the Key Load File (required)")
	return f.runTest(e, fs, args, func(k *kmc.KMC) error {
		pending, err := testSMPending(k, *reqFile)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(*klfFile)
		if err != nil {
			return err
		}
		blocks, err := armor.ParseFile(data)
		if err != nil {
			return err
		}
		bodies := make([]string, len(blocks))
		for i, b := range blocks {
			bodies[i] = b.Body
		}
		mod, err := s.module()
		if err != nil {
			return err
		}
		vks, err := keyload.Open(mod, pending, bodies)
		if err != nil {
			return err
		}
		for i := range vks {
			kcv, _ := keyagree.KCV(vks[i].Key)
			fmt.Fprintf(e.stdout, "SGC %06d  %s  KRN %d  BDT %d  DKGA%02d  EA%02d  KEN %d  KCV %X\n", vks[i].SGC,
				kmc.KeyType(vks[i].KT), vks[i].KRN, vks[i].BDT, vks[i].DKGA, vks[i].EA, vks[i].KEN, kcv)
			vks[i].Zero()
		}
		fmt.Fprintf(e.stdout, "%s loaded\n", count(len(vks), "vending key", "vending keys"))
		return nil
	})
}

// testSMPending is what the stand-in module that made the request in
// reqFile awaits: the KMC key it named and the request's time.
func testSMPending(k *kmc.KMC, reqFile string) (keyload.Pending, error) {
	text, err := os.ReadFile(reqFile)
	if err != nil {
		return keyload.Pending{}, err
	}
	req, err := kmc.ParseRequest(text)
	if err != nil {
		return keyload.Pending{}, err
	}
	keys, err := k.Keys(context.Background())
	if err != nil {
		return keyload.Pending{}, err
	}
	var pk *records.PKECDH
	for _, key := range keys {
		if key.KMCID.String() == req.KMCID.String() {
			pk = key.Record
		}
	}
	if pk == nil {
		return keyload.Pending{}, fmt.Errorf("the request names no key of this KMC")
	}
	return keyload.Pending{KMC: pk, RequestTime: req.Time}, nil
}

// writeOut writes data to the file path, or to standard output if path is
// empty.
func writeOut(e *env, path string, data []byte) error {
	if path == "" {
		_, err := e.stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// wrapRecord formats a record and wraps it in Record-in-Email form.
func wrapRecord(r interface{ Format() (string, error) }) ([]byte, error) {
	body, err := r.Format()
	if err != nil {
		return nil, err
	}
	return armor.Wrap(body)
}
