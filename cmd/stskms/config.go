package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Configuration. Every flag of every command can also come from one TOML
// file and from the environment, so that a service is configured once
// (docs/config.md):
//
//	[gateway.serve]            # settings of `stskms gateway serve`
//	listen = "0.0.0.0:25"
//	stsa-sender = ["registry@sts.org.za"]
//	[gateway]                  # settings of every `stskms gateway …` command
//	dir = "/var/lib/stskms/kmc"
//
// and STSKMS_GATEWAY_SERVE_LISTEN or STSKMS_GATEWAY_DIR in the environment.
// A value is taken from, in order: the command line; the environment, the
// command's own variable first, then its group's; the file, the command's
// section first, then its group's; the flag's default. The file is named by
// --config or $STSKMS_CONFIG. A few flags of one command are also another
// group's (sharedSettings): they are read there after the command's own
// places.

// configEnv names the configuration file when --config is not given.
const configEnv = "STSKMS_CONFIG"

// maxConfigSize bounds the configuration file.
const maxConfigSize = 1 << 20

// configFlag is the flag every command has for the configuration file.
const configFlag = "config"

// sharedSettings names, per command, flags that are also read from another
// group's variables and section, after the command's own: "gateway serve"
// unlocks the KMC of its directory, so the KMC's officers, PIN file and
// database password file set once in [kmc] (or $STSKMS_KMC_OFFICERS) serve
// it too.
var sharedSettings = map[string]struct {
	group []string
	flags []string
}{
	"gateway serve": {group: []string{"kmc"}, flags: []string{"officers", "pin-file", "db-password-file"}},
}

// sharedGroup returns the other group whose settings flag of the command
// at path also reads, or nil.
func sharedGroup(path []string, flag string) []string {
	sh, ok := sharedSettings[strings.Join(path, " ")]
	if ok && slices.Contains(sh.flags, flag) {
		return sh.group
	}
	return nil
}

// errConfig marks a configuration file or variable that cannot be used.
var errConfig = errors.New("configuration")

// source says where a flag's value came from.
type source string

const (
	fromFlag    source = "flag"
	fromEnv     source = "env"
	fromFile    source = "file"
	fromDefault source = "default"
)

// setting is the value a flag ended with and where it came from: the flag,
// $NAME, or FILE [section].
type setting struct {
	Name, Value string
	Source      source
	From        string
}

// section is one table of the configuration file that applies to a
// command: [gateway.serve] or [gateway].
type section struct {
	name   string
	values map[string]any
}

// loadConfig reads a configuration file.
func loadConfig(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errConfig, path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", errConfig, path, maxConfigSize)
	}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errConfig, path, err)
	}
	for k, v := range tree {
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Errorf("%w: %s: %q is outside any section: put it under [COMMAND] or [COMMAND.SUBCOMMAND]", errConfig, path, k)
		}
	}
	if err := checkConfigSecrets(path, tree); err != nil {
		return nil, err
	}
	return tree, nil
}

// sectionsFor returns the sections of tree that apply to the command at
// path, the most specific first. The root is not a section.
func sectionsFor(tree map[string]any, path []string) []section {
	var found []section
	level := tree
	for i, name := range path {
		next, ok := level[name].(map[string]any)
		if !ok {
			break
		}
		found = append(found, section{name: strings.Join(path[:i+1], "."), values: next})
		level = next
	}
	for i, j := 0, len(found)-1; i < j; i, j = i+1, j-1 {
		found[i], found[j] = found[j], found[i]
	}
	return found
}

// envNames returns the environment variables of a flag of the command at
// path, the most specific first: STSKMS_GATEWAY_SERVE_DIR, STSKMS_GATEWAY_DIR.
func envNames(path []string, flagName string) []string {
	suffix := "_" + envWord(flagName)
	var names []string
	for i := len(path); i >= 1; i-- {
		words := make([]string, i)
		for j, p := range path[:i] {
			words[j] = envWord(p)
		}
		names = append(names, "STSKMS_"+strings.Join(words, "_")+suffix)
	}
	return names
}

func envWord(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

// applySettings sets every flag not given on the command line from the
// environment or the configuration file, and returns where each flag's
// value came from.
func (fs *flagSet) applySettings(e *env) ([]setting, error) {
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		explicit[f.Name] = true
		if c := fs.aliases[f.Name]; c != "" {
			explicit[c] = true
		}
	})
	path := strings.Fields(fs.Name())
	file := fs.Lookup(configFlag).Value.String()
	if file == "" {
		file = e.getenv(configEnv)
	}
	var sections []section
	var tree map[string]any
	if file != "" {
		var err error
		if tree, err = loadConfig(file); err != nil {
			return nil, err
		}
		sections = sectionsFor(tree, path)
		if len(sections) > 0 && sections[0].name == strings.Join(path, ".") {
			if err := fs.checkSection(file, sections[0]); err != nil {
				return nil, err
			}
		}
	}
	var settings []setting
	var errs []error
	fs.visitAll(func(f *flag.Flag) {
		names, secs := envNames(path, f.Name), sections
		if g := sharedGroup(path, f.Name); g != nil {
			names = append(names, envNames(g, f.Name)...)
			secs = append(slices.Clip(secs), sectionsFor(tree, g)...)
		}
		s, err := fs.settle(e, f, explicit[f.Name], names, file, secs)
		if err != nil {
			errs = append(errs, err)
		}
		settings = append(settings, s)
	})
	return settings, errors.Join(errs...)
}

// settle gives flag f its value from the first place that has one: the
// command line, the variables envs, the sections of file.
func (fs *flagSet) settle(e *env, f *flag.Flag, explicit bool, envs []string, file string, sections []section) (setting, error) {
	s := setting{Name: f.Name, Source: fromDefault}
	switch {
	case explicit:
		s.Source = fromFlag
	case f.Name == configFlag:
	default:
		for _, name := range envs {
			if v, ok := lookupEnv(e, name); ok {
				s.Source, s.From = fromEnv, "$"+name
				if err := fs.Set(f.Name, v); err != nil {
					return s, fmt.Errorf("%w: $%s: %w", errConfig, name, err)
				}
				break
			}
		}
		if s.Source != fromDefault {
			break
		}
		for _, sec := range sections {
			v, ok := sec.values[f.Name]
			if !ok {
				continue
			}
			s.Source, s.From = fromFile, fmt.Sprintf("%s [%s]", file, sec.name)
			if err := setFromTOML(fs.FlagSet, f.Name, v); err != nil {
				return s, fmt.Errorf("%w: %s [%s] %s: %w", errConfig, file, sec.name, f.Name, err)
			}
			break
		}
	}
	s.Value = f.Value.String()
	return s, nil
}

// lookupEnv reads a variable through env, so that tests can set it; an
// empty value counts as unset.
func lookupEnv(e *env, name string) (string, bool) {
	v := e.getenv(name)
	return v, v != ""
}

// setFromTOML sets a flag from a TOML value: a string, number or boolean;
// an array sets a repeatable flag once per element.
func setFromTOML(fs *flag.FlagSet, name string, v any) error {
	switch v := v.(type) {
	case string:
		return fs.Set(name, v)
	case int64, float64, bool:
		return fs.Set(name, fmt.Sprint(v))
	case []any:
		for _, el := range v {
			if _, nested := el.([]any); nested {
				return errors.New("nested arrays are not settings")
			}
			if err := setFromTOML(fs, name, el); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("a %T is not a setting (use a string, number, boolean or array)", v)
}

// checkSection refuses a setting in the command's own section that is not
// one of its flags: a typo must not be ignored silently.
func (fs *flagSet) checkSection(file string, sec section) error {
	var unknown []string
	for k, v := range sec.values {
		if _, isSection := v.(map[string]any); isSection || k == configFlag {
			continue
		}
		if fs.Lookup(k) == nil || fs.aliases[k] != "" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("%w: %s [%s]: unknown setting %s (see stskms %s --help)", errConfig, file, sec.name,
		strings.Join(quoteAll(unknown), ", "), fs.Name())
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return q
}
