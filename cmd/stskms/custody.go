package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/pkcs11"
)

// Key custody on the command line: the PKCS#11 configuration and PIN of
// `sm init --pkcs11` and `kmc init --pkcs11` (and of every command that
// opens such a module or KMC), and the officers' passphrases, read without
// echo when standard input is a terminal.

// pinFileUsage is the help text of --pin-file.
const pinFileUsage = "PKCS#11 custody: file whose first line is the token's user PIN (mode 0600 or 0400); " +
	"without it the PIN is the systemd credential " + pkcs11.PINCredential + " ($" + pkcs11.CredentialsDirEnv + "/" + pkcs11.PINCredential +
	"), else $" + pkcs11.PINEnv + ", else asked on a terminal"

// loadPKCS11 reads the PKCS#11 configuration file of --pkcs11 ("" if not
// given: nil).
func loadPKCS11(path string) (*pkcs11.Config, error) {
	if path == "" {
		return nil, nil
	}
	cfg, err := pkcs11.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return &cfg, nil
}

// readPIN returns the PKCS#11 user PIN for what (a token, module or KMC,
// named in the prompt): from pinFile if given, else from the systemd
// credential pkcs11-pin, else from $STSKMS_PKCS11_PIN (pkcs11.ReadPIN),
// else asked for (without echo) when standard input is a terminal. The
// caller clears it.
func readPIN(e *env, pinFile, what string) ([]byte, error) {
	pin, err := pkcs11.ReadPIN(pinFile, e.getenv)
	if !errors.Is(err, pkcs11.ErrNoPIN) {
		return pin, err
	}
	p := newPrompter(e)
	defer p.close()
	if p.tty == nil {
		return nil, err
	}
	pin, ok, err := p.secret(fmt.Sprintf("PKCS#11 user PIN for %s (not echoed): ", what))
	if err == nil && !ok {
		err = pkcs11.CheckPIN(nil)
	}
	if err == nil {
		err = pkcs11.CheckPIN(pin)
	}
	if err != nil {
		clear(pin)
		return nil, err
	}
	return pin, nil
}

// prompter reads the lines of standard input: on a terminal with a prompt
// on standard error, and secrets without echo (golang.org/x/term); from a
// pipe or file (scripts, tests) line by line, without prompts.
type prompter struct {
	e   *env
	tty *os.File // standard input, if it is a terminal
	buf []byte   // the scanner's buffer, cleared by close
	sc  *bufio.Scanner
}

// maxLine bounds one line of standard input (a passphrase, a name).
const maxLine = 4096

func newPrompter(e *env) *prompter {
	p := &prompter{e: e}
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = f
		return p
	}
	p.buf = make([]byte, maxLine)
	p.sc = bufio.NewScanner(e.stdin)
	p.sc.Buffer(p.buf, maxLine)
	return p
}

// close clears what the prompter buffered (passphrases among it).
func (p *prompter) close() { clear(p.buf) }

// line returns the next line (ok false at the end of input), echoed on a
// terminal after prompt.
func (p *prompter) line(prompt string) (string, bool, error) {
	b, ok, err := p.read(prompt, false)
	return string(b), ok, err
}

// secret returns the next line (ok false at the end of input), not echoed
// on a terminal. The caller clears it.
func (p *prompter) secret(prompt string) ([]byte, bool, error) {
	return p.read(prompt, true)
}

func (p *prompter) read(prompt string, secret bool) ([]byte, bool, error) {
	if p.tty == nil {
		if !p.sc.Scan() {
			return nil, false, p.sc.Err()
		}
		return bytes.Clone(bytes.TrimSuffix(p.sc.Bytes(), []byte{'\r'})), true, nil
	}
	fmt.Fprint(p.e.stderr, prompt)
	if secret {
		b, err := term.ReadPassword(int(p.tty.Fd()))
		fmt.Fprintln(p.e.stderr)
		if err != nil {
			return nil, false, fmt.Errorf("read from the terminal: %w", err)
		}
		return b, true, nil
	}
	return readTTYLine(p.tty)
}

// readTTYLine reads one line from a terminal byte by byte (so that nothing
// after it is consumed).
func readTTYLine(r io.Reader) ([]byte, bool, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < maxLine {
		n, err := r.Read(b)
		if n == 1 && b[0] == '\n' {
			return bytes.TrimSuffix(line, []byte{'\r'}), true, nil
		}
		if n == 1 {
			line = append(line, b[0])
		}
		if err == io.EOF {
			return line, len(line) > 0, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read from the terminal: %w", err)
		}
	}
	return nil, false, fmt.Errorf("a line longer than %d bytes on the terminal", maxLine)
}

// credential reads one officer's credential for smCredentials: on a
// terminal the name, then the passphrase without echo (ok false at an
// empty name); otherwise the next NAME=PASSPHRASE line, blank lines
// skipped (ok false at the end of input).
func (p *prompter) credential() (keystore.Component, bool, error) {
	if p.tty != nil {
		name, ok, err := p.line("officer name (an empty line when all have been given): ")
		if err != nil || !ok || name == "" {
			return keystore.Component{}, false, err
		}
		pass, ok, err := p.secret(fmt.Sprintf("passphrase of officer %q (not echoed): ", name))
		if err != nil || !ok {
			return keystore.Component{}, false, err
		}
		return keystore.Component{Officer: name, Passphrase: pass}, true, nil
	}
	for {
		line, ok, err := p.secret("")
		if err != nil || !ok {
			return keystore.Component{}, false, err
		}
		if len(line) == 0 {
			continue
		}
		name, pass, found := bytes.Cut(line, []byte{'='})
		c := keystore.Component{Officer: string(name), Passphrase: bytes.Clone(pass)}
		clear(line)
		if !found {
			return keystore.Component{}, false, fmt.Errorf("officer credentials on standard input are NAME=PASSPHRASE lines")
		}
		return c, true, nil
	}
}

// officerPassphrases reads one passphrase per officer named in names, in
// that order: asked for without echo on a terminal, else one line each.
func officerPassphrases(e *env, names []string) ([]keystore.Component, error) {
	p := newPrompter(e)
	defer p.close()
	var comps []keystore.Component
	for _, n := range names {
		pass, ok, err := p.secret(fmt.Sprintf("passphrase of officer %q (not echoed): ", n))
		if err == nil && !ok {
			err = fmt.Errorf("no passphrase for officer %q on standard input", n)
		}
		if err != nil {
			zeroOfficers(comps)
			return nil, err
		}
		comps = append(comps, keystore.Component{Officer: n, Passphrase: pass})
	}
	return comps, nil
}
