package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/stskms/stskms/store"
)

func configCommand() *command {
	return &command{summary: "check a configuration file, show a command's settings and where they come from", sub: map[string]*command{
		"check": {summary: "check every section and setting of a configuration file against the commands", run: runConfigCheck},
		"show":  {summary: "show the settings a command would run with, and where each comes from", run: runConfigShow},
		"db-password": {summary: "move the database password out of a KMC's kmc.json or a module's sm.json into a file",
			run: runConfigDBPassword},
	}}
}

func runConfigCheck(e *env, args []string) error {
	fs := newFlags("config check", "--config FILE",
		"Checks a configuration file: its TOML syntax, that every section names a command or\n"+
			"a group of commands, and that every setting is a flag of that command (or of a\n"+
			"command of that group) — so that a typo is found before a service starts.\n"+
			"Exit status 1 with one line per problem.")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	file := fs.Lookup(configFlag).Value.String()
	if file == "" {
		file = e.getenv(configEnv)
	}
	if file == "" {
		fmt.Fprintln(e.stderr, "stskms config check: --config FILE (or $"+configEnv+") is required")
		return errUsage
	}
	tree, err := loadConfig(file)
	if err != nil {
		return err
	}
	problems := checkTree(tree, commands(), nil)
	for _, p := range problems {
		fmt.Fprintf(e.stdout, "%s: %s\n", file, p)
	}
	if len(problems) > 0 {
		return errSilent
	}
	fmt.Fprintf(e.stdout, "%s: ok\n", file)
	return nil
}

func runConfigShow(e *env, args []string) error {
	fs := newFlags("config show", "[--config FILE] COMMAND [SUBCOMMAND]",
		"Shows every setting the command would run with — from its flags' defaults, the\n"+
			"configuration file and the environment, as the command itself would read them —\n"+
			"and where each value comes from. Secrets are shown as ****: settings named like one\n"+
			"(password, passphrase, PIN, secret) and passwords in URLs (postgres://user:****@…).")
	path, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if len(path) == 0 {
		fmt.Fprintln(e.stderr, "stskms config show: name a command, e.g. stskms config show gateway serve")
		return errUsage
	}
	target, err := inspectFlags(e, path)
	if err != nil {
		return err
	}
	if f := fs.Lookup(configFlag).Value.String(); f != "" {
		if err := target.Set(configFlag, f); err != nil {
			return err
		}
	}
	settings, err := target.applySettings(e)
	if err != nil {
		return err
	}
	for _, s := range settings {
		if s.Name == configFlag {
			continue
		}
		fmt.Fprintf(e.stdout, "%-20s %-40q %s %s\n", s.Name, shownValue(s.Name, s.Value), s.Source, s.From)
	}
	return nil
}

// shownValue is a setting's value as config show prints it: a secret
// setting (secretSetting) as ****, and a URL with a password — a
// database's, a witness's — with the password as ****.
func shownValue(name, v string) string {
	switch {
	case v == "":
		return v
	case secretSetting(name):
		return store.Mask
	case store.HasPassword(v):
		return store.Redact(v)
	}
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, set := u.User.Password(); set {
			u.User = url.UserPassword(u.User.Username(), "MASKED")
			return strings.Replace(u.String(), ":MASKED@", ":"+store.Mask+"@", 1)
		}
	}
	return v
}

// secretSetting reports a flag whose value is not shown.
func secretSetting(name string) bool {
	for _, w := range []string{"password", "passphrase", "pin", "secret"} {
		if strings.Contains(name, w) && !strings.HasSuffix(name, "-file") {
			return true
		}
	}
	return false
}

// inspectFlags returns the flags of the command at path, without running
// it.
func inspectFlags(e *env, path []string) (*flagSet, error) {
	cmds := commands()
	var c *command
	for i, name := range path {
		if cmds == nil || cmds[name] == nil {
			return nil, fmt.Errorf("%w: no command %q", errConfig, strings.Join(path[:i+1], " "))
		}
		c = cmds[name]
		cmds = c.sub
	}
	if c.sub != nil {
		return nil, fmt.Errorf("%w: %q is a group of commands: name one of them", errConfig, strings.Join(path, " "))
	}
	var got *flagSet
	probe := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: e.getenv,
		inspect: func(fs *flagSet) { got = fs }}
	if err := c.run(probe, nil); got == nil {
		return nil, fmt.Errorf("%w: %q has no flags to show (%v)", errConfig, strings.Join(path, " "), err)
	}
	return got, nil
}

// leafFlags returns the names of the flags of every command under cmds.
func leafFlags(cmds map[string]*command, path []string) map[string]bool {
	names := map[string]bool{}
	for name, c := range cmds {
		p := append(append([]string(nil), path...), name)
		if c.sub != nil {
			for n := range leafFlags(c.sub, p) {
				names[n] = true
			}
			continue
		}
		fs, err := inspectFlags(&env{getenv: func(string) string { return "" }}, p)
		if err != nil {
			continue
		}
		fs.visitAll(func(f *flag.Flag) { names[f.Name] = true })
	}
	return names
}

// checkTree returns the problems of the configuration tree at path, whose
// commands are cmds.
func checkTree(tree map[string]any, cmds map[string]*command, path []string) []string {
	var problems []string
	known := leafFlags(cmds, path)
	keys := make([]string, 0, len(tree))
	for k := range tree {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := append(append([]string(nil), path...), k)
		sub, isSection := tree[k].(map[string]any)
		switch {
		case isSection && (cmds == nil || cmds[k] == nil):
			problems = append(problems, fmt.Sprintf("[%s]: no command %q", strings.Join(p, "."), strings.Join(p, " ")))
		case isSection && cmds[k].sub == nil:
			problems = append(problems, checkLeaf(sub, p)...)
		case isSection:
			problems = append(problems, checkTree(sub, cmds[k].sub, p)...)
		case !known[k]:
			problems = append(problems, fmt.Sprintf("[%s] %s: no command of %q has this flag", strings.Join(path, "."), k, strings.Join(path, " ")))
		}
	}
	return problems
}

// checkLeaf returns the problems of the section of one command.
func checkLeaf(values map[string]any, path []string) []string {
	fs, err := inspectFlags(&env{getenv: func(string) string { return "" }}, path)
	if err != nil {
		return []string{err.Error()}
	}
	err = fs.checkSection("", section{name: strings.Join(path, "."), values: values})
	var problems []string
	for k, v := range values {
		if _, nested := v.(map[string]any); nested {
			problems = append(problems, fmt.Sprintf("[%s.%s]: %q has no subcommands", strings.Join(path, "."), k, strings.Join(path, " ")))
		}
	}
	if err != nil {
		problems = append(problems, strings.TrimSpace(strings.TrimPrefix(err.Error(), errConfig.Error()+":")))
	}
	return problems
}
