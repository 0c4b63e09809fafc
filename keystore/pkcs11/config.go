package pkcs11

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stskms/stskms/internal/atomicfile"
	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/internal/strictjson"
	"github.com/stskms/stskms/keystore"
)

// ConfigFileName is the name of the configuration file in a key custody
// directory (DIR/keystore/pkcs11.json of a module or a KMC).
const ConfigFileName = "pkcs11.json"

// PINEnv is the environment variable ReadPIN takes the user PIN from when
// neither a PIN file nor a systemd credential gives it.
const PINEnv = "STSKMS_PKCS11_PIN"

// CredentialsDirEnv names the variable in which systemd gives a service
// the directory of its credentials (systemd.exec(5), LoadCredential=).
const CredentialsDirEnv = secretfile.CredentialsDirEnv

// PINCredential is the name of the systemd credential ReadPIN takes the
// user PIN from: LoadCredential=pkcs11-pin:/etc/stskms/pkcs11-pin in the
// unit puts it at $CREDENTIALS_DIRECTORY/pkcs11-pin.
const PINCredential = "pkcs11-pin"

// configFormat is the "format" of a configuration file.
const configFormat = "stskms-pkcs11/1"

// Limits of the configuration and the PIN.
const (
	maxConfigSize = 16 << 10
	// MaxTokenLabelLen is the length of a PKCS#11 token label
	// (CK_TOKEN_INFO.label, 32 bytes blank-padded).
	MaxTokenLabelLen = 32
	// MaxNamespaceLen is the longest key-label namespace.
	MaxNamespaceLen = 32
	// MinPINLen and MaxPINLen bound the user PIN, in bytes.
	MinPINLen = 4
	MaxPINLen = 255
)

// Errors of this package, besides the keystore sentinels (ErrLocked,
// ErrNotFound, ErrExists, ErrPeer, ErrUnseal, ErrName, ErrStoreExists,
// ErrNoStore) that its custody returns where the sealed store would.
var (
	// ErrConfig: the configuration file or value is unusable.
	ErrConfig = errors.New("keystore/pkcs11: invalid configuration")
	// ErrPIN: no PIN, a PIN outside MinPINLen..MaxPINLen, or one the token
	// refuses. It wraps keystore.ErrBadPassphrase; it never holds the PIN.
	ErrPIN error = pinError{}
	// ErrNoPIN: no PIN was given at all (it wraps ErrPIN), so a caller
	// may ask for one.
	ErrNoPIN = fmt.Errorf("%w: none given (give a PIN file, the systemd credential %s, or $%s)", ErrPIN, PINCredential, PINEnv)
	// ErrPINFile: a PIN file (or the systemd credential) cannot be used:
	// missing, readable by others, empty, too large or not a regular
	// file. It comes as a *PINFileError naming the file and why. It is
	// not ErrPIN: the token was not asked.
	ErrPINFile = errors.New("keystore/pkcs11: unusable PIN file")
	// ErrPINLocked: the token has locked the user PIN after too many
	// wrong ones; its security officer must reset it.
	ErrPINLocked = errors.New("keystore/pkcs11: the token has locked the user PIN")
	// ErrModule: the PKCS#11 module (shared library) does not load or
	// initialise.
	ErrModule = errors.New("keystore/pkcs11: PKCS#11 module unusable")
	// ErrToken: no token, or more than one, carries the configured label.
	ErrToken = errors.New("keystore/pkcs11: token not found")
	// ErrDevice: the token failed an operation (the PKCS#11 return code
	// says which).
	ErrDevice = errors.New("keystore/pkcs11: token operation failed")
	// ErrNoCgo: this binary was built without cgo, which PKCS#11 needs.
	ErrNoCgo = errors.New("keystore/pkcs11: PKCS#11 needs a binary built with cgo (CGO_ENABLED=1)")
)

// Config says which token holds the keys and under which labels. It never
// holds the PIN: that comes from the environment (PINEnv) or a PIN file
// (ReadPIN), so the file can be kept with the module's other files.
type Config struct {
	// Module is the absolute path of the PKCS#11 shared library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string `json:"module"`
	// TokenLabel selects the token: exactly one token of the module must
	// carry it.
	TokenLabel string `json:"token_label"`
	// Namespace prefixes every object label this custody makes
	// ("stskms/NAMESPACE/…"), so that an SM and a KMC (or several SMs)
	// can share one token without clashing. It follows keystore.CheckName
	// and is at most MaxNamespaceLen bytes.
	Namespace string `json:"namespace"`
}

// configFile is the JSON form of Config.
type configFile struct {
	Format string `json:"format"`
	Config
}

// Validate checks c: an absolute module path, a token label of 1 to
// MaxTokenLabelLen printable ASCII bytes without leading or trailing
// blanks, and a namespace that passes keystore.CheckName, of at most
// MaxNamespaceLen bytes. Errors wrap ErrConfig.
func (c Config) Validate() error {
	if c.Module == "" || !filepath.IsAbs(c.Module) || strings.ContainsRune(c.Module, 0) {
		return fmt.Errorf("%w: module must be the absolute path of the PKCS#11 library", ErrConfig)
	}
	if l := c.TokenLabel; l == "" || len(l) > MaxTokenLabelLen || strings.TrimSpace(l) != l || !printable(l) {
		return fmt.Errorf("%w: token_label must be 1 to %d printable ASCII characters without leading or trailing blanks", ErrConfig, MaxTokenLabelLen)
	}
	if err := keystore.CheckName(c.Namespace); err != nil || len(c.Namespace) > MaxNamespaceLen {
		return fmt.Errorf("%w: namespace must be 1 to %d letters, digits, '-', '_' or '.' (a letter or digit first)", ErrConfig, MaxNamespaceLen)
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ParseConfig parses and validates a configuration file:
//
//	{"format": "stskms-pkcs11/1", "module": "/usr/lib/softhsm/libsofthsm2.so",
//	 "token_label": "stskms", "namespace": "sm-0001"}
//
// Unknown fields are refused, and a file that tries to hold a PIN is
// refused without echoing it. Errors wrap ErrConfig.
func ParseConfig(data []byte) (Config, error) {
	if len(data) > maxConfigSize {
		return Config{}, fmt.Errorf("%w: larger than %d bytes", ErrConfig, maxConfigSize)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return Config{}, fmt.Errorf("%w: not a JSON object", ErrConfig)
	}
	for k := range fields {
		if strings.Contains(strings.ToLower(k), "pin") {
			return Config{}, fmt.Errorf("%w: the PIN never goes into the configuration file; give it in $%s or a PIN file", ErrConfig, PINEnv)
		}
	}
	var f configFile
	if err := strictjson.Unmarshal(data, &f); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if f.Format != configFormat {
		return Config{}, fmt.Errorf("%w: format must be %q", ErrConfig, configFormat)
	}
	if err := f.Config.Validate(); err != nil {
		return Config{}, err
	}
	return f.Config, nil
}

// Marshal returns c as a configuration file (indented JSON), after
// validating it.
func (c Config) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(configFile{Format: configFormat, Config: c}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return append(b, '\n'), nil
}

// LoadConfig reads and parses the configuration file at path.
func LoadConfig(path string) (Config, error) {
	data, err := readLimited(path, maxConfigSize)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return ParseConfig(data)
}

// WriteConfig writes c to dir/ConfigFileName (mode 0600), making dir (mode
// 0700) if it does not exist. A directory initialised with a PKCS#11
// custody keeps the configuration there, so that it is opened with the
// same token and namespace.
func WriteConfig(dir string, c Config) error {
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keystore/pkcs11: %w", err)
	}
	if err := atomicfile.Write(dir, ConfigFileName, data, 0o600, nil); err != nil {
		return fmt.Errorf("keystore/pkcs11: %w", err)
	}
	return nil
}

// pinError is ErrPIN: its text names the PIN, not a passphrase.
type pinError struct{}

func (pinError) Error() string { return "keystore/pkcs11: PKCS#11 user PIN" }
func (pinError) Unwrap() error { return keystore.ErrBadPassphrase }

// PINFileError says why a PIN file cannot be used (ErrPINFile). It names
// the file, never its content.
type PINFileError struct {
	Path   string // the file, as named
	Reason string // what is wrong with it, for people ("" if Err says it)
	Err    error  // the cause, if any (secretfile.ErrExposed, …)
}

// Error names the file and says what is wrong with it.
func (e *PINFileError) Error() string {
	switch {
	case e.Reason == "":
		return "PKCS#11 PIN file: " + e.Err.Error()
	case e.Err == nil:
		return "PKCS#11 PIN file " + e.Path + " " + e.Reason
	}
	return "PKCS#11 PIN file " + e.Path + " " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns ErrPINFile and the cause.
func (e *PINFileError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrPINFile}
	}
	return []error{ErrPINFile, e.Err}
}

// ReadPIN returns the user PIN from the first of:
//
//  1. pinFile, if not "": its first line. It must be a regular file that
//     its owner only may use (mode 0600 or 0400, package
//     internal/secretfile).
//  2. the systemd credential PINCredential, when getenv(CredentialsDirEnv)
//     names a directory that holds it: its first line. systemd makes it
//     read-only (mode 0400) for the service's user, in a directory only
//     that user and root may enter; ReadPIN checks what systemd
//     guarantees (secretfile.CheckCredential).
//  3. getenv(PINEnv).
//
// A file that cannot be used is a *PINFileError (ErrPINFile), never ErrPIN;
// no PIN at all is ErrNoPIN; a PIN outside MinPINLen..MaxPINLen is ErrPIN.
// The PIN is checked for length only; the caller clears it.
func ReadPIN(pinFile string, getenv func(string) string) ([]byte, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var pin []byte
	var err error
	switch cred, ok := credential(getenv); {
	case pinFile != "":
		pin, err = readPINFile(pinFile, checkPINFile)
	case ok:
		pin, err = readPINFile(cred, secretfile.CheckCredential)
	default:
		pin = []byte(getenv(PINEnv))
	}
	if err == nil {
		err = CheckPIN(pin)
	}
	if err != nil {
		clear(pin)
		return nil, err
	}
	return pin, nil
}

// credential returns the path of the PIN credential and whether systemd
// gave one (the variable is set and the file exists, whatever it is).
func credential(getenv func(string) string) (string, bool) {
	dir := getenv(CredentialsDirEnv)
	if dir == "" {
		return "", false
	}
	path := filepath.Join(dir, PINCredential)
	_, err := os.Lstat(path)
	return path, !errors.Is(err, fs.ErrNotExist)
}

// readPINFile returns the first line of the PIN file at path, after check
// has accepted it.
func readPINFile(path string, check func(string, fs.FileInfo) error) ([]byte, error) {
	// Stat before Open: opening a FIFO would wait for a writer.
	if st, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, &PINFileError{Path: path, Reason: "does not exist"}
	} else if err == nil && !st.Mode().IsRegular() {
		return nil, &PINFileError{Path: path, Reason: "is not a regular file"}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &PINFileError{Path: path, Reason: "cannot be read", Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &PINFileError{Path: path, Reason: "cannot be read", Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, &PINFileError{Path: path, Reason: "is not a regular file"}
	}
	if err := check(path, st); err != nil {
		return nil, &PINFileError{Path: path, Err: err}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPINLen+3))
	defer clear(data)
	if err != nil {
		return nil, &PINFileError{Path: path, Reason: "cannot be read", Err: err}
	}
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	switch {
	case len(line) == 0:
		return nil, &PINFileError{Path: path, Reason: "is empty (its first line is the PIN)"}
	case len(line) > MaxPINLen:
		return nil, &PINFileError{Path: path, Reason: fmt.Sprintf("holds more than %d bytes on its first line (the PIN)", MaxPINLen)}
	}
	return bytes.Clone(line), nil
}

// checkPINFile accepts a PIN file that its owner only may use.
func checkPINFile(path string, st fs.FileInfo) error { return secretfile.CheckMode(path, st.Mode()) }

// CheckPIN checks the length of a user PIN (ErrPIN; ErrNoPIN if empty),
// and nothing else: the token checks the rest.
func CheckPIN(pin []byte) error {
	if len(pin) == 0 {
		return ErrNoPIN
	}
	if len(pin) < MinPINLen || len(pin) > MaxPINLen {
		return fmt.Errorf("%w: %d bytes, want %d to %d", ErrPIN, len(pin), MinPINLen, MaxPINLen)
	}
	return nil
}

// readLimited reads a regular file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: %w", path, fs.ErrInvalid)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		clear(data)
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}
