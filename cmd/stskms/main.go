// Command stskms is the one binary of stskms, an STS prepayment key
// management system: token engine, meter simulator, and (in later issues)
// security module, KMC and e-mail gateway. Run "stskms help" for the
// subcommands; every subcommand has --help.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// command is one subcommand; a group has sub-commands instead of run.
type command struct {
	summary string
	run     func(env *env, args []string) error
	sub     map[string]*command
}

// env is what a command writes to and reads from.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// inspect, when set, receives a command's flags instead of the
	// command running (stskms config check|show).
	inspect func(*flagSet)
}

// errUsage marks an error the command already explained with its usage;
// the exit status is 2.
var errUsage = errors.New("usage")

// usageError is a usage error in its own words (a required flag missing):
// report prints them and exits 2, as for errUsage. Refusals exit 1.
type usageError string

func (u usageError) Error() string { return string(u) }

// Is makes a usageError match errUsage.
func (u usageError) Is(target error) bool { return target == errUsage }

func commands() map[string]*command {
	return map[string]*command{
		"token": {summary: "make, decode and inspect STS tokens", sub: map[string]*command{
			"decoder-key": {summary: "derive a meter's decoder key (DKGA02/DKGA04)", run: runDecoderKey},
			"encode":      {summary: "encode a credit, management or test token", run: runEncode},
			"keychange":   {summary: "make the key change token set for a new decoder key", run: runKeyChange},
			"decode":      {summary: "decode a 20-digit token with a decoder key", run: runDecode},
		}},
		"records": {summary: "parse and wrap KMS records (PK.ECDH.1, VKLOAD.REQ.1, Key Load File)", sub: map[string]*command{
			"parse": {summary: "print every record in a mail body or file as JSON, with its CRC checks", run: runRecordsParse},
			"wrap":  {summary: "turn one-line records into Record-in-Email form", run: runRecordsWrap},
		}},
		"kmc":     kmcCommand(),
		"gateway": gatewayCommand(),
		"demo":    {summary: "run the whole loop on 127.0.0.1: KMC, gateway, modules, mail, meters (--tokens: the token engine alone)", run: runDemo},
		"sm":      smCommand(),
		"config":  configCommand(),
		"audit":   auditCommand(),
		"version": {summary: "print the version, commit, Go version, build settings and modules (--json)", run: runVersion},
		"release": releaseCommand(),
		"bench": {summary: "measure stskms", sub: map[string]*command{
			"tokens":  {summary: "the fixed token workload of four cases (µs/token, tokens/s, digest)", run: runBenchTokens},
			"gateway": {summary: "{KMS:GetKlfStsEd2} mails through a KMC and its gateway on loopback (requests/s, p50, p99)", run: runBenchGateway},
			"sm":      {summary: "credit tokens through a security module's HTTP API on loopback (tokens/s, p50, p99)", run: runBenchSM},
		}},
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	name := "stskms"
	cmds := commands()
	for {
		if len(args) > 1 && args[0] == "help" {
			// "help sm init" is "sm init --help".
			args = append(args[1:len(args):len(args)], "--help")
		}
		if len(args) == 0 || isHelp(args[0]) {
			printGroup(e.stdout, name, cmds)
			if len(args) == 0 {
				return 2
			}
			return 0
		}
		c, ok := cmds[args[0]]
		if !ok {
			fmt.Fprintf(e.stderr, "%s: unknown command %q (see %s help)\n", name, args[0], name)
			return 2
		}
		name += " " + args[0]
		args = args[1:]
		if c.sub == nil {
			return report(e, name, c.run(e, args))
		}
		cmds = c.sub
	}
}

func report(e *env, name string, err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		if u := usageError(""); errors.As(err, &u) {
			fmt.Fprintf(e.stderr, "%s: %s; see --help\n", name, oneLine(u.Error()))
		}
		return 2
	case errors.Is(err, errSilent):
		return 1
	}
	fmt.Fprintf(e.stderr, "%s: %s\n", name, oneLine(err.Error()))
	return 1
}

// count returns n and the noun: "1 mail", "2 mails" (the plural is
// many, for nouns like "reply"/"replies").
func count[N ~int | ~int64](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// printJSON prints v as one line of JSON.
func printJSON(w io.Writer, v any) {
	out, err := json.Marshal(v)
	if err != nil {
		out, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	fmt.Fprintln(w, string(out))
}

// printEach prints each item: as one line of JSON, of what jsonOf makes of
// it, or with text; as text, an empty list is the line "none".
func printEach[T any](e *env, asJSON bool, items []T, jsonOf func(T) any, text func(T)) {
	if len(items) == 0 && !asJSON {
		fmt.Fprintln(e.stdout, "none")
	}
	for _, it := range items {
		if asJSON {
			printJSON(e.stdout, jsonOf(it))
		} else {
			text(it)
		}
	}
}

// itself is the jsonOf of printEach that prints an item as it is.
func itself[T any](v T) any { return v }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}

func printGroup(w io.Writer, name string, cmds map[string]*command) {
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\nCommands:\n", name)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's flags.\n", name)
}

// flagSet is a subcommand's flags with its help text.
type flagSet struct {
	*flag.FlagSet
	synopsis, description string
	// aliases maps a hidden alias to the flag it stands for.
	aliases map[string]string
}

// newFlags returns the flag set of a subcommand; --help prints its usage to
// stdout, errors come back to the caller.
func newFlags(name, synopsis, description string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.String(configFlag, "", "configuration file (default $"+configEnv+"; see docs/config.md)")
	return &flagSet{FlagSet: fs, synopsis: synopsis, description: description}
}

// alias adds name as a hidden alias of the flag canonical: the same value,
// not listed by --help, config show or config check (the other command
// family's spelling: --as/--actor, --dsn/--db).
func (fs *flagSet) alias(name, canonical string) {
	fs.Var(fs.Lookup(canonical).Value, name, "alias of --"+canonical)
	if fs.aliases == nil {
		fs.aliases = map[string]string{}
	}
	fs.aliases[name] = canonical
}

// visitAll is VisitAll without the aliases.
func (fs *flagSet) visitAll(fn func(*flag.Flag)) {
	fs.VisitAll(func(f *flag.Flag) {
		if fs.aliases[f.Name] == "" {
			fn(f)
		}
	})
}

func (fs *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: stskms %s %s\n\n%s\n\nFlags:\n", fs.Name(), fs.synopsis, fs.description)
	printFlags(w, fs)
}

// printFlags lists the flags GNU-style, as the documentation writes them.
func printFlags(w io.Writer, fs *flagSet) {
	width := 12
	fs.visitAll(func(f *flag.Flag) { width = max(width, len(f.Name)) })
	fs.visitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "-1" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%-*s %s%s\n", width, f.Name, f.Usage, def)
	})
}

// parse parses flags that may come before or after positional arguments,
// completes them from the environment and the configuration file, and
// returns the positional ones.
func (fs *flagSet) parse(e *env, args []string) ([]string, error) {
	if e.inspect != nil {
		e.inspect(fs)
		return nil, flag.ErrHelp
	}
	positional, err := fs.parseArgs(e, args)
	if err != nil {
		return nil, err
	}
	if _, err := fs.applySettings(e); err != nil {
		return nil, err
	}
	return positional, nil
}

func (fs *flagSet) parseArgs(e *env, args []string) ([]string, error) {
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.usage(e.stdout)
			return nil, err
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "stskms %s: %v (see --help)\n", fs.Name(), err)
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
