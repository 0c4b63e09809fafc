package main

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/release"
	"github.com/stskms/stskms/sm"
)

// Firmware identity, signed releases and the version floor's override
// (STS 600-10-1 §4.2 B3, B4; package release, docs/release.md).

func releaseCommand() *command {
	return &command{summary: "sign and verify release manifests (offline release key)", sub: map[string]*command{
		"keygen": {summary: "make a release signing key (Ed25519) and its public key file", run: runReleaseKeygen},
		"sign":   {summary: "write the signed manifest of release binaries (SHA-256 and version)", run: runReleaseSign},
		"verify": {summary: "verify a manifest's signature and binaries against it", run: runReleaseVerify},
	}}
}

// releaseFlags are the flags of a command that opens a module or a KMC:
// the release manifest and key the running binary checks itself against.
type releaseFlags struct {
	manifest, key string
	require       bool
	downgrade     bool // set by the downgrade commands, not a flag
}

func addReleaseFlags(fs *flagSet, withRequire bool) *releaseFlags {
	f := &releaseFlags{}
	fs.StringVar(&f.manifest, "release-manifest", "", "signed release manifest that lists this binary (docs/release.md)")
	fs.StringVar(&f.key, "release-key", "", "public key file of the release key that signs --release-manifest")
	if withRequire {
		fs.BoolVar(&f.require, "require-signed-release", false, "refuse to start unless --release-manifest vouches for this binary")
	}
	return f
}

// policy is the release policy of the flags; nil (a command without
// them) is the zero policy: an unsigned build is reported, not refused.
func (f *releaseFlags) policy() release.Policy {
	if f == nil {
		return release.Policy{}
	}
	return release.Policy{Manifest: f.manifest, PublicKey: f.key, RequireSigned: f.require, AllowDowngrade: f.downgrade}
}

func runVersion(e *env, args []string) error {
	fs := newFlags("version", "[--json] [--release-manifest FILE --release-key FILE]",
		"Prints this binary's version (\"devel\" unless a release build set it), the commit it was\n"+
			"built from (\"unknown\" when built without VCS information), the Go version, the build\n"+
			"settings and every module linked in. With --release-manifest and --release-key it also\n"+
			"says whether the binary is a signed release (docs/release.md).")
	asJSON := fs.Bool("json", false, "print JSON")
	rf := addReleaseFlags(fs, false)
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	b := release.Read()
	st, _ := rf.policy().Check()
	if *asJSON {
		printJSON(e.stdout, struct {
			release.Build
			Release string `json:"release"`
		}{b, st.String()})
		return nil
	}
	commit := b.Commit
	if b.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(e.stdout, "stskms %s\ncommit   %s\ngo       %s\npath     %s\nrelease  %s\nbuild settings:\n",
		b.Version, commit, b.GoVersion, b.Path, st)
	for _, s := range b.Settings {
		fmt.Fprintf(e.stdout, "  %s=%s\n", s.Key, s.Value)
	}
	fmt.Fprintln(e.stdout, "modules:")
	for _, m := range b.Modules {
		fmt.Fprintf(e.stdout, "  %s %s %s", m.Path, m.Version, m.Sum)
		if m.Replace != "" {
			fmt.Fprintf(e.stdout, " => %s", m.Replace)
		}
		fmt.Fprintln(e.stdout)
	}
	return nil
}

func runReleaseKeygen(e *env, args []string) error {
	fs := newFlags("release keygen", "--key FILE --pub FILE",
		"Makes a release signing key (Ed25519): the private key in --key (mode 0600; keep it\n"+
			"offline, never on a production machine) and its public key in --pub, to install beside\n"+
			"the binaries (--release-key). Existing files are never overwritten. Prints the key id.")
	keyFile := fs.String("key", "", "private key file to create (required)")
	pubFile := fs.String("pub", "", "public key file to create (required)")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if *keyFile == "" || *pubFile == "" {
		fmt.Fprintln(e.stderr, "stskms release keygen: give --key and --pub (see --help)")
		return errUsage
	}
	k, err := release.GenerateKey()
	if err != nil {
		return err
	}
	priv := release.MarshalPrivateKey(k)
	defer clear(priv)
	if err := createFile(*keyFile, priv, 0o600); err != nil {
		return err
	}
	if err := createFile(*pubFile, release.MarshalPublicKey(k.Public()), 0o644); err != nil {
		os.Remove(*keyFile)
		return err
	}
	fmt.Fprintf(e.stdout, "release key %s\n", k.Public().ID())
	return nil
}

// createFile writes a new file, refusing to replace one.
func createFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

func runReleaseSign(e *env, args []string) error {
	fs := newFlags("release sign", "--key KEYFILE --out MANIFEST [--version vX.Y.Z] BINARY...",
		"Writes MANIFEST: the release version and the SHA-256 of each BINARY (by base name),\n"+
			"signed with the release key (docs/release.md). The version is --version, or else the\n"+
			"one the binaries record (-ldflags without -trimpath, or a tagged VCS build), which must\n"+
			"agree; a binary recording another version, or \"devel\", is refused. A binary always\n"+
			"knows its version: its self-check refuses a manifest that gives it another.")
	keyFile := fs.String("key", "", "release private key file (required)")
	out := fs.String("out", "", "manifest file to write (required)")
	version := fs.String("version", "", "release version vX.Y.Z (default: the binaries' own)")
	bins, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if *keyFile == "" || *out == "" || len(bins) == 0 {
		fmt.Fprintln(e.stderr, "stskms release sign: give --key, --out and at least one BINARY (see --help)")
		return errUsage
	}
	key, err := release.ReadPrivateKey(*keyFile)
	if err != nil {
		return err
	}
	m := release.Manifest{Version: *version}
	for _, b := range bins {
		if err := checkBuiltVersion(b, &m.Version); err != nil {
			return err
		}
		sum, err := release.HashFile(b)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, release.File{Name: filepath.Base(b), SHA256: sum})
	}
	signed, err := release.Sign(m, key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, signed, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %d binaries of %s signed with release key %s\n", *out, len(m.Files), m.Version, key.Public().ID())
	return nil
}

// ldflagsVersion finds the -X setting of release.Version in -ldflags.
var ldflagsVersion = regexp.MustCompile(`-X[= ]['"]?github\.com/stskms/stskms/release\.Version=([^'"\s]+)`)

// checkBuiltVersion checks that the binary at path was built as *version,
// or sets *version to what it was built as if it is empty. A binary
// records its version where the toolchain kept it: in -ldflags (not kept
// with -trimpath) or as the module version of a tagged VCS build;
// otherwise --version is needed, and the binary's self-check (which knows
// its own version) refuses a manifest that gives it another.
func checkBuiltVersion(path string, version *string) error {
	built := ""
	if info, err := buildinfo.ReadFile(path); err == nil {
		if release.CheckVersion(info.Main.Version) == nil {
			built = info.Main.Version
		}
		for _, s := range info.Settings {
			if m := ldflagsVersion.FindStringSubmatch(s.Value); s.Key == "-ldflags" && m != nil {
				built = m[1]
			}
		}
	}
	switch {
	case built == "" && *version == "":
		return fmt.Errorf("%s does not record the version it was built as (-trimpath drops -ldflags): give --version", path)
	case built == "":
		return nil
	case built == release.Devel:
		return fmt.Errorf("%s is a development build: not signed", path)
	case *version == "":
		*version = built
	case built != *version:
		return fmt.Errorf("%s was built as %s, not %s", path, built, *version)
	}
	return nil
}

func runReleaseVerify(e *env, args []string) error {
	fs := newFlags("release verify", "--pub PUBFILE MANIFEST [BINARY...]",
		"Verifies MANIFEST's signature with the release public key and checks each BINARY\n"+
			"against the manifest's entry of its base name. Exit status 1 if the signature does not\n"+
			"verify or any binary is missing from the manifest or differs from it.")
	pubFile := fs.String("pub", "", "release public key file (required)")
	args, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if *pubFile == "" || len(args) == 0 {
		fmt.Fprintln(e.stderr, "stskms release verify: give --pub and the MANIFEST (see --help)")
		return errUsage
	}
	pub, err := release.ReadPublicKey(*pubFile)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	m, err := release.ParseManifest(data, pub)
	if err != nil {
		return fmt.Errorf("%s NOT verified: %w", args[0], err)
	}
	fmt.Fprintf(e.stdout, "%s: release %s, %d binaries, signed with release key %s: signature verified\n",
		args[0], m.Version, len(m.Files), m.KeyID)
	var errs []error
	for _, b := range args[1:] {
		if err := m.CheckFile(b); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(e.stdout, "%s: OK\n", b)
	}
	return errors.Join(errs...)
}

// floorChange describes what opening did to the version floor.
func floorChange(f release.Floor) string {
	switch {
	case f.Downgrade:
		return fmt.Sprintf("version floor lowered from %s to %s (audited)", f.Previous, f.Running)
	case f.Raise:
		return fmt.Sprintf("version floor raised from %q to %s", f.Previous, f.Running)
	case f.Previous == "":
		return fmt.Sprintf("no version floor (a %s build records none)", f.Running)
	}
	return fmt.Sprintf("version floor %s, not lowered: this binary (%s) is not older", f.Previous, f.Running)
}

const downgradeHelp = "Opens the %s with the version floor's override: a binary older than the newest\n" +
	"release that opened its state (which it otherwise refuses) lowers the floor to its own\n" +
	"version, and the audit log records it (%s.version.downgrade) with the officers who\n" +
	"authorised it. Dual control: every officer's passphrase of the sealed store; a PKCS#11\n" +
	"custody: its PIN and at least two of its registered officers' passphrases (%s); a test\n" +
	"%s needs none. A development build never can."

func runSMDowngrade(e *env, args []string) error {
	fs := newFlags("sm downgrade", "--dir DIR", fmt.Sprintf(downgradeHelp, "module", "sm", "NAME=PASSPHRASE lines", "module"))
	f := addSMFlags(e, fs)
	f.release.downgrade, f.dual = true, true
	return f.run(e, fs, args, true, func(m *sm.Module) error {
		fmt.Fprintf(e.stdout, "%s: %s\n", m.Identify().SMID, floorChange(m.Floor()))
		return nil
	})
}

func runSMAcceptRollback(e *env, args []string) error {
	fs := newFlags("sm accept-rollback", "--dir DIR",
		"Opens a module whose database does not extend the audit checkpoint kept outside it\n"+
			"(a restored backup, a rolled-back or forked database: the module otherwise opens in its\n"+
			"error state) and goes on from this database: the audit log records sm.rollback.accept\n"+
			"with both sizes and the officers, and the module keeps the current checkpoint instead.\n"+
			"Tokens issued after the restored state may be issued again: reconcile them first.\n"+
			"Dual control: every officer's passphrase of the sealed store (a PKCS#11 module: its PIN\n"+
			"and at least two registered officers' NAME=PASSPHRASE lines); a test module needs none.\n"+
			"A module serving in that state (`sm serve`) is also recovered, without a restart, by two\n"+
			"officers on its operator console's Recovery page (docs/console.md). See docs/audit.md.")
	f := addSMFlags(e, fs)
	f.acceptRollback, f.dual = true, true
	return f.run(e, fs, args, true, func(m *sm.Module) error {
		what := m.AcceptedRollback()
		if what == "" {
			what = "the database extends the kept audit checkpoint: nothing to accept"
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", m.Identify().SMID, what)
		return nil
	})
}

func runKMCAcceptRollback(e *env, args []string) error {
	fs := newFlags("kmc accept-rollback", "--dir DIR [--officers A,B]",
		"Opens a KMC whose database does not extend the audit checkpoint kept outside it (a\n"+
			"restored backup, a rolled-back or forked database: the KMC otherwise refuses to open)\n"+
			"and goes on from this database: the audit log records kmc.rollback.accept with both\n"+
			"sizes and the officers, and the KMC keeps the current checkpoint instead. Key Load\n"+
			"Files and registry changes made after the restored state are gone from it: reconcile\n"+
			"them first. Dual control: every officer's passphrase of the sealed store (a PKCS#11\n"+
			"KMC: its PIN and --officers, at least two registered officers); a test KMC needs none.\n"+
			"See docs/audit.md.")
	f := addKMCFlags(e, fs)
	f.acceptRollback, f.dual = true, true
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		what := k.AcceptedRollback()
		if what == "" {
			what = "the database extends the kept audit checkpoint: nothing to accept"
		}
		fmt.Fprintf(e.stdout, "KMC in %s: %s\n", f.dir, what)
		return nil
	})
}

func runKMCDowngrade(e *env, args []string) error {
	fs := newFlags("kmc downgrade", "--dir DIR [--officers A,B]", fmt.Sprintf(downgradeHelp, "KMC", "kmc", "--officers", "KMC"))
	f := addKMCFlags(e, fs)
	f.release.downgrade, f.dual = true, true
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		fmt.Fprintf(e.stdout, "KMC in %s: %s\n", f.dir, floorChange(k.Floor()))
		return nil
	})
}
