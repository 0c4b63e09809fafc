package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
)

// "kmc officers" and "sm officers": the officers registered with a
// directory's key custody (list), and the registration of officers with a
// PKCS#11 custody made before officer registries existed, which opens only
// once it has one (register; docs/operations.md, "Upgrading a PKCS#11
// site").

// officersList is the answer of "officers list --json".
type officersList struct {
	// Custody is the custody's kind: sealed, pkcs11, or test.
	Custody string `json:"custody"`
	// Officers are the registered officers, in their order there; empty
	// for a test custody.
	Officers []string `json:"officers"`
}

// officersCommand returns the "officers" command of o: list and
// register, run by the functions given.
func officersCommand(o dirOwner, list, register func(*env, []string) error) *command {
	return &command{summary: "the officers registered with the " + o.noun + "'s key custody (dual control)", sub: map[string]*command{
		"list":     {summary: "list the officers registered with the key custody", run: list},
		"register": {summary: "register officers with a PKCS#11 custody that has none yet (an older " + o.noun + "; audited)", run: register},
	}}
}

func kmcOfficersCommand() *command {
	return officersCommand(kmcDir, runKMCOfficersList, runKMCOfficersRegister)
}

func smOfficersCommand() *command {
	return officersCommand(smDir, runSMOfficersList, runSMOfficersRegister)
}

const officersListHelp = "Lists the officers registered with the %s's key custody, one per line: a sealed store's\n" +
	"component holders, or the officer registry beside a PKCS#11 token. A test %s registers\n" +
	"none. It unlocks nothing. A PKCS#11 %s made before officer registries existed has none\n" +
	"and does not open: register them with \"stskms %s officers register\"."

const officersRegisterHelp = "Registers officers with the PKCS#11 key custody of the %s in DIR, which has none yet\n" +
	"(made before officer registries existed, it does not open without them): at least two,\n" +
	"%s;\neach becomes a passphrase verifier bound to the token. The token is opened with its PIN,\n" +
	"asked once (--pin-file, the systemd credential, $STSKMS_PKCS11_PIN, else a terminal);\n" +
	"then the %s is opened with these officers and the registration audited as\n" +
	"%s.officers.register. Refused, changing nothing, for a sealed store (its officers are\n" +
	"its components' holders), a test %s, or a custody whose officers are registered already."

// runOfficersList prints the officers of a directory of o: custody is its
// kind, officers what dirOfficers reads.
func runOfficersList(e *env, args []string, o dirOwner, cmd string, kind func(dir string) (string, error), dirOfficers func(dir string) ([]string, error)) error {
	fs := newFlags(cmd+" officers list", "--dir DIR [--json]", fmt.Sprintf(officersListHelp, o.noun, o.noun, o.noun, cmd))
	var f dirFlags
	f.addStoreFlags(e, fs, o)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if f.dir == "" {
		return o.errNoDir()
	}
	custody, err := kind(f.dir)
	if err != nil {
		return err
	}
	officers, err := dirOfficers(f.dir)
	if errors.Is(err, keystore.ErrNoOfficers) {
		return fmt.Errorf("%w: register them with \"stskms %s officers register --dir %s\"", err, cmd, f.dir)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		printJSON(e.stdout, officersList{Custody: custody, Officers: append([]string{}, officers...)})
		return nil
	}
	if officers == nil {
		fmt.Fprintf(e.stdout, "none: a test %s registers no officers\n", o.noun)
	}
	for _, n := range officers {
		fmt.Fprintln(e.stdout, n)
	}
	return nil
}

func runKMCOfficersList(e *env, args []string) error {
	return runOfficersList(e, args, kmcDir, "kmc", kmcCustodyKind, kmc.DirOfficers)
}

func runSMOfficersList(e *env, args []string) error {
	return runOfficersList(e, args, smDir, "sm", smCustodyKind, sm.DirOfficers)
}

// kmcCustodyKind is the kind of custody of the KMC in dir, "test" for a
// test KMC.
func kmcCustodyKind(dir string) (string, error) {
	mode, err := kmc.DirMode(dir)
	if err != nil || mode == kmc.ModeTest {
		return "test", err
	}
	return kmc.DirCustody(dir)
}

// smCustodyKind is the kind of custody of the module in dir, "test" for
// a test module.
func smCustodyKind(dir string) (string, error) {
	info, err := sm.Stat(dir)
	if err != nil || info.Test {
		return "test", err
	}
	return info.Custody, nil
}

func runKMCOfficersRegister(e *env, args []string) error {
	fs := newFlags("kmc officers register", "--dir DIR --officers A,B[,…] [--pin-file F]",
		fmt.Sprintf(officersRegisterHelp, "KMC", "named by --officers, their new passphrases read from standard input (one line each,\n"+
			"in that order; asked for without echo on a terminal)", "KMC", "kmc", "KMC"))
	f := addKMCFlags(e, fs)
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if f.dir == "" {
		return kmcDir.errNoDir()
	}
	if err := kmc.CheckRegistrable(f.dir); err != nil {
		return err
	}
	if f.officers == "" {
		return usageError("give --officers A,B (at least two) and their passphrases on standard input")
	}
	pin, err := readPIN(e, f.pinFile, "the KMC in "+f.dir)
	if err != nil {
		return err
	}
	defer clear(pin)
	officers, err := readOfficers(e, f.officers)
	if err != nil {
		return err
	}
	defer zeroOfficers(officers)
	o := kmc.OpenOptions{Release: f.release.policy(), Witnesses: f.witnesses(), PIN: pin}
	if o.DBPassword, err = f.dbPassword(e); err != nil {
		return err
	}
	k, err := kmc.RegisterOfficers(context.Background(), f.dir, f.as, officers, o)
	if err != nil {
		return err
	}
	defer k.Close()
	printRegistered(e, keystore.OfficerNames(officers), "KMC", "kmc")
	return nil
}

func runSMOfficersRegister(e *env, args []string) error {
	fs := newFlags("sm officers register", "--dir DIR [--pin-file F] < NAME=PASSPHRASE lines",
		fmt.Sprintf(officersRegisterHelp, "module", "NAME=PASSPHRASE lines on standard input as for sm init (on a terminal, each\n"+
			"name and then its passphrase, without echo, until an empty name)", "module", "sm", "module"))
	f := addSMFlags(e, fs)
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if f.dir == "" {
		return smDir.errNoDir()
	}
	if err := sm.CheckRegistrable(f.dir); err != nil {
		return err
	}
	info, err := sm.Stat(f.dir)
	if err != nil {
		return err
	}
	pin, err := readPIN(e, f.pinFile, "module "+info.SMID)
	if err != nil {
		return err
	}
	defer clear(pin)
	officers, err := smCredentials(e)
	if err != nil {
		return err
	}
	defer zeroOfficers(officers)
	opts := sm.Options{Release: f.release.policy(), Witnesses: f.witnesses(), PIN: pin}
	if opts.DBPassword, err = f.dbPassword(e, info); err != nil {
		return err
	}
	m, err := sm.RegisterOfficers(context.Background(), f.dir, f.as, officers, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	names := keystore.OfficerNames(officers)
	if f.json {
		printJSON(e.stdout, officersList{Custody: keystore.KindPKCS11, Officers: names})
		return nil
	}
	printRegistered(e, names, "module", "sm")
	return nil
}

// printRegistered says that officers were registered with the custody of
// the noun's directory, and how it was audited.
func printRegistered(e *env, officers []string, noun, cmd string) {
	fmt.Fprintf(e.stdout, "registered officers %s with the %s's PKCS#11 custody; audited as %s.officers.register\n",
		strings.Join(officers, ", "), noun, cmd)
}
