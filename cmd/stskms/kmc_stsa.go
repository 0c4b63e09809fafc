package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
)

// kmcSTSACommand is "stskms kmc stsa": the STS Association's signing keys
// the KMC accepts registry updates under, and the tool that signs one.
func kmcSTSACommand() *command {
	return &command{summary: "STS Association: its registry-update signing keys, and signing an update", sub: map[string]*command{
		"key": {summary: "the STS Association keys this KMC accepts registry updates under", sub: map[string]*command{
			"set":    {summary: "configure an STS Association public key (P-384)", run: runKMCSTSAKeySet},
			"list":   {summary: "list the configured STS Association keys", run: runKMCSTSAKeyList},
			"remove": {summary: "stop accepting updates signed with a key", run: runKMCSTSAKeyRemove},
		}},
		"sign": {summary: "sign SMREG.SM.1 records into a registry update (the STS Association's tool)", run: runKMCSTSASign},
	}}
}

// kmcSMUpdateCommand is "stskms kmc sm update".
func kmcSMUpdateCommand() *command {
	return &command{summary: "apply a signed STS Association registry update file", run: runKMCSMUpdate}
}

// kmcPruneCommand is "stskms kmc prune".
func kmcPruneCommand() *command {
	return &command{summary: "remove seen requests too old to matter (and old registry-update answers)", run: runKMCPrune}
}

// readFileArg reads the file a flag names ("-" for standard input).
func readFileArg(e *env, flagName, path string) ([]byte, error) {
	switch path {
	case "":
		return nil, usageError(fmt.Sprintf("give --%s FILE", flagName))
	case "-":
		return io.ReadAll(e.stdin)
	}
	return os.ReadFile(path)
}

// printRefusal prints a KMC refusal as the gateway sends it (code,
// description, params) and a detail line for the operator, and returns
// errSilent; any other error comes back unchanged.
func printRefusal(e *env, err error) error {
	var ke *kmc.Error
	if !errors.As(err, &ke) {
		return err
	}
	fmt.Fprintf(e.stderr, "Error\t%s\t%s\t%s\n", ke.Code, ke.Code.Description(), strings.Join(ke.Params, "\t"))
	if ke.Err != nil {
		fmt.Fprintf(e.stderr, "detail: %s\n", oneLine(ke.Err.Error()))
	}
	return errSilent
}

func runKMCSTSAKeySet(e *env, args []string) error {
	fs := newFlags("kmc stsa key set", "--dir DIR --pubkey FILE|PEM",
		"Configures an STS Association public key: registry updates ({KMS:SmUpdateStsEd2},\n"+
			"kmc sm update) signed with it are accepted from then on. The key is an ECDSA P-384\n"+
			"public key, as a PEM PUBLIC KEY block (openssl ec -pubout) or 194 hex digits (04‖X‖Y),\n"+
			"given as a file or inline. Several keys may be configured (a key rotation). A live\n"+
			"KMC: dual control, at least two registered officers with their passphrases (--officers),\n"+
			"audited as officer:A+B.")
	f := addKMCFlags(e, fs)
	f.dual = true
	pubArg := fs.String("pubkey", "", "the public key: a file, or the PEM text itself (required)")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.STSAKey, error) {
		data := []byte(*pubArg)
		var err error
		if !strings.Contains(*pubArg, "-----BEGIN") {
			if data, err = readFileArg(e, "pubkey", *pubArg); err != nil {
				return kmc.STSAKey{}, err
			}
		}
		pub, err := kmc.ParseSTSAPublicKey(data)
		if err != nil {
			return kmc.STSAKey{}, err
		}
		actor, err := kmcDualActor(f, k)
		if err != nil {
			return kmc.STSAKey{}, err
		}
		return k.AddSTSAKey(ctx, actor, pub)
	}, func(key kmc.STSAKey) { fmt.Fprintf(e.stdout, "STSA key %s configured\n", key.ID) })
}

func runKMCSTSAKeyList(e *env, args []string) error {
	fs := newFlags("kmc stsa key list", "--dir DIR [--json]", "Lists the configured STS Association keys.")
	f := addKMCFlags(e, fs)
	asJSON := fs.Bool("json", false, "one JSON object per key")
	return showKMC(e, fs, f, args, (*kmc.KMC).STSAKeys, func(keys []kmc.STSAKey) {
		printEach(e, *asJSON, keys, func(key kmc.STSAKey) any {
			point, _ := key.PublicKey.Bytes()
			return fields{{"id", key.ID.String()}, {"public_key", fmt.Sprintf("%X", point)},
				{"added_at", key.AddedAt.Format(records.TimeLayout)}, {"added_by", key.AddedBy}}
		}, func(key kmc.STSAKey) {
			fmt.Fprintf(e.stdout, "%s  added %s by %s\n", key.ID, key.AddedAt.Format(records.TimeLayout), key.AddedBy)
		})
	})
}

func runKMCSTSAKeyRemove(e *env, args []string) error {
	fs := newFlags("kmc stsa key remove", "--dir DIR --id KEYID",
		"Stops accepting registry updates signed with the STS Association key KEYID (16 hex digits,\n"+
			"as kmc stsa key list shows it). A live KMC: dual control, as kmc stsa key set.")
	f := addKMCFlags(e, fs)
	f.dual = true
	id := fs.String("id", "", "the key id (required)")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		actor, err := kmcDualActor(f, k)
		if err != nil {
			return err
		}
		if err := k.RemoveSTSAKey(context.Background(), actor, *id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "STSA key %s removed\n", strings.ToUpper(*id))
		return nil
	})
}

func runKMCSTSASign(e *env, args []string) error {
	fs := newFlags("kmc stsa sign", "--key KEYFILE --seq N [--time T] [--in FILE] [--out FILE]",
		"The STS Association's tool: signs SMREG.SM.1 records (one-line records, or blocks in\n"+
			"Record-in-Email form, from --in or standard input; their seq fields are renumbered)\n"+
			"into a registry update file: SMREG.HDR.1 naming the key, the records, SMREG.END.1 with\n"+
			"the ECDSA P-384 signature (docs/formats.md §9). KEYFILE is a PEM P-384 private key\n"+
			"(EC PRIVATE KEY or PRIVATE KEY). Needs no KMC: it takes no --dir.")
	keyFile := fs.String("key", "", "the STS Association's private key, PEM (required)")
	seq := fs.Uint64("seq", 0, "the update's sequence number, greater than the last one's (required)")
	var at timeFlag
	fs.Var(&at, "time", "issue time (default now)")
	in := fs.String("in", "-", "the SMREG.SM.1 records (- for standard input)")
	out := fs.String("out", "", "write the update file here (default: standard output)")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if *seq == 0 {
		return usageError("give --seq N (1 or more)")
	}
	pemData, err := readFileArg(e, "key", *keyFile)
	if err != nil {
		return err
	}
	priv, err := parseSTSAPrivateKey(pemData)
	if err != nil {
		return err
	}
	text, err := readFileArg(e, "in", *in)
	if err != nil {
		return err
	}
	mods, err := smregModules(text)
	if err != nil {
		return err
	}
	t := at.t
	if t.IsZero() {
		t = time.Now()
	}
	bodies, err := records.SignSMRegUpdate(priv, *seq, t, mods, rand.Reader)
	if err != nil {
		return err
	}
	file, err := armor.File(bodies...)
	if err != nil {
		return err
	}
	if err := writeOut(e, *out, file); err != nil || *out == "" {
		return err
	}
	fmt.Fprintf(e.stdout, "registry update %d of %d modules, signed, written to %s\n", *seq, len(mods), *out)
	return nil
}

// parseSTSAPrivateKey reads a PEM ECDSA P-384 private key. Its errors
// never quote the key.
func parseSTSAPrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, fmt.Errorf("--key: no PEM block")
	}
	var key any
	var err error
	switch blk.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("--key: PEM block %q, want EC PRIVATE KEY or PRIVATE KEY", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("--key: not a valid private key")
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P384() {
		return nil, fmt.Errorf("--key: not an ECDSA P-384 key")
	}
	return priv, nil
}

// smregModules reads the SMREG.SM.1 records of text: the blocks if it has
// any, else its lines that start with the record type.
func smregModules(text []byte) ([]records.SMRegModule, error) {
	typ := records.SMRegSMSpec.Type()
	var bodies []string
	blocks, err := armor.Find(text)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		if b.Type != typ {
			return nil, fmt.Errorf("a %s record among the modules; give only %s records", b.Type, typ)
		}
		bodies = append(bodies, b.Body)
	}
	if len(blocks) == 0 {
		for _, line := range strings.Split(string(text), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				bodies = append(bodies, line)
			}
		}
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("no %s records", typ)
	}
	mods := make([]records.SMRegModule, len(bodies))
	for i, b := range bodies {
		m, err := records.ParseSMRegModule(b)
		if err != nil {
			return nil, fmt.Errorf("module record %d: %w", i+1, err)
		}
		mods[i] = *m
	}
	return mods, nil
}

func runKMCSMUpdate(e *env, args []string) error {
	fs := newFlags("kmc sm update", "--dir DIR --file FILE",
		"Applies a signed STS Association registry update file (docs/formats.md §9), as the\n"+
			"gateway's {KMS:SmUpdateStsEd2} does: the signature must verify under a configured STSA\n"+
			"key (kmc stsa key set) and its sequence number must be greater than the last applied;\n"+
			"then every module is added or updated, all or nothing. A refusal prints its code and\n"+
			"exits with status 1, and changes nothing.")
	f := addKMCFlags(e, fs)
	file := fs.String("file", "", "the update file (required; - for standard input)")
	return f.run(e, fs, args, func(k *kmc.KMC) error {
		data, err := readFileArg(e, "file", *file)
		if err != nil {
			return err
		}
		res, err := k.ApplyRegistryUpdate(context.Background(), f.as, data, kmc.UpdateOptions{})
		if err != nil {
			return printRefusal(e, err)
		}
		fmt.Fprintln(e.stdout, res.Summary())
		return nil
	})
}

func runKMCPrune(e *env, args []string) error {
	fs := newFlags("kmc prune", "--dir DIR --before DURATION",
		"Removes the seen requests (the replay table of VKLOAD.REQ.1, with each issued Key Load\n"+
			"File) made and answered more than DURATION ago, and remembered answers to registry\n"+
			"updates as old. Such requests are refused as expired (EVkloadExpired) anyway, so no\n"+
			"replay gets through; DURATION must be at least twice the freshness window, and should\n"+
			"exceed the longest a gateway may hold a request (docs/kmc.md §3.5).")
	f := addKMCFlags(e, fs)
	before := fs.Duration("before", 0, "the age, e.g. 720h (required)")
	return showKMC(e, fs, f, args, func(k *kmc.KMC, ctx context.Context) (kmc.PruneResult, error) {
		if *before == 0 {
			return kmc.PruneResult{}, usageError(fmt.Sprintf("give --before DURATION (at least %v)", k.MinPruneAge()))
		}
		return k.Prune(ctx, f.as, *before)
	}, func(res kmc.PruneResult) {
		fmt.Fprintf(e.stdout, "pruned before %s: %d seen requests, %d registry-update answers\n",
			res.Cutoff.Format(records.TimeLayout), res.Requests, res.Answers)
	})
}
