package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

// consoleOf is whose operator console the console commands manage: a
// KMC's or a module's (docs/console.md).
type consoleOf struct {
	dirOwner
	// database returns the store DSN of the directory, without unlocking
	// anything.
	database func(dir string) (string, error)
}

var (
	kmcConsole = consoleOf{dirOwner: kmcDir, database: kmc.DirDatabase}
	smConsole  = consoleOf{dirOwner: smDir, database: smDatabase}
)

// smDatabase returns the database of a module directory.
func smDatabase(dir string) (string, error) {
	info, err := sm.Stat(dir)
	if err != nil {
		return "", err
	}
	if info.Database == "external" {
		return "", errors.New("the module's database was given when it was made; its console cannot be managed from the directory")
	}
	return store.InDir(dir, info.Database), nil
}

// command is "stskms kmc console" or "stskms sm console".
func (c consoleOf) command() *command {
	return &command{summary: "operator-console accounts: one-time passkey enrolment paths, list, revoke (docs/console.md)",
		sub: map[string]*command{
			"enroll": {summary: "print a one-time path that enrols a person's passkey (valid 15 minutes)", run: c.runEnroll},
			"list":   {summary: "list the console's accounts", run: c.runList},
			"revoke": {summary: "revoke a person's console account for good; their sessions end at once", run: c.runRevoke},
		}}
}

// flags makes the flag set of a console command: --dir and
// --db-password-file (the directory's database is all it opens) and --as.
func (c consoleOf) flags(e *env, name, synopsis, description string) (*flagSet, *dirFlags) {
	fs := newFlags(c.cmd+" console "+name, synopsis, description)
	f := &dirFlags{}
	f.addStoreFlags(e, fs, c.dirOwner)
	fs.StringVar(&f.as, "as", cliActor(e), "your name, for the audit log")
	fs.alias("actor", "as")
	return fs, f
}

// open opens the console's store in the directory's database; no key
// custody is unlocked. The caller closes the database.
func (c consoleOf) open(e *env, f *dirFlags) (*store.DB, *console.Store, error) {
	if f.dir == "" {
		return nil, nil, c.errNoDir()
	}
	dsn, err := c.database(f.dir)
	if err != nil {
		return nil, nil, err
	}
	if dsn, err = withDBPassword(e, dsn, f.dbPasswordFile); err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	st, err := console.OpenStore(ctx, db, nil)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, st, nil
}

func (c consoleOf) runEnroll(e *env, args []string) error {
	fs, f := c.flags(e, "enroll", "--dir DIR --name NAME --role officer|operator|auditor",
		"Prints a one-time path under /console/ that enrols NAME, in ROLE, in the "+c.noun+"'s operator\n"+
			"console: opened in a browser on the console's address (`stskms "+c.cmd+" serve`), it registers\n"+
			"the person's passkey and signs them in. The path is valid for 15 minutes and works once;\n"+
			"only its hash is stored. The roles are the API's (docs/"+c.cmd+".md). Enrolling a name\n"+
			"that has an account in the same role adds a passkey; a revoked name, or one in another role,\n"+
			"is refused. Audited. See docs/console.md.")
	name := fs.String("name", "", "the person's name: letters, digits, '.', '_', '-' (at most 64)")
	roleName := fs.String("role", "", "officer, operator or auditor")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if *name == "" || *roleName == "" {
		return usageError("give --name and --role")
	}
	r, ok := role.Parse(*roleName)
	if !ok {
		return usageError(fmt.Sprintf("--role %q: officer, operator or auditor", *roleName))
	}
	db, st, err := c.open(e, f)
	if err != nil {
		return err
	}
	defer db.Close()
	code, expires, err := st.Enrol(context.Background(), f.as, *name, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\n", console.EnrolPath(code))
	fmt.Fprintf(e.stderr, "stskms %s console enroll: open that path on the console's address (http://localhost:PORT on a\n"+
		"loopback listener) before %s; it enrols %s as %s, once.\n", c.cmd, expires.UTC().Format(time.DateTime+" UTC"), *name, r)
	return nil
}

func (c consoleOf) runList(e *env, args []string) error {
	fs, f := c.flags(e, "list", "--dir DIR [--json]", "Lists the accounts of the "+c.noun+"'s operator console, active and revoked.")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	db, st, err := c.open(e, f)
	if err != nil {
		return err
	}
	defer db.Close()
	accounts, err := st.Accounts(context.Background())
	if err != nil {
		return err
	}
	if *asJSON {
		type row struct {
			Name     string     `json:"name"`
			Role     string     `json:"role"`
			Passkeys int        `json:"passkeys"`
			Created  time.Time  `json:"created"`
			LastUsed *time.Time `json:"last_sign_in,omitempty"`
			Revoked  *time.Time `json:"revoked,omitempty"`
		}
		rows := []row{}
		for _, a := range accounts {
			r := row{Name: a.Name, Role: a.Role.String(), Passkeys: a.Passkeys, Created: a.Created}
			if !a.LastUsed.IsZero() {
				r.LastUsed = &a.LastUsed
			}
			if !a.Active() {
				r.Revoked = &a.Revoked
			}
			rows = append(rows, r)
		}
		printJSON(e.stdout, rows)
		return nil
	}
	for _, a := range accounts {
		state := "active"
		if !a.Active() {
			state = "revoked " + a.Revoked.Format(time.RFC3339)
		}
		fmt.Fprintf(e.stdout, "%-24s %-8s passkeys %d  enrolled %s  %s\n", a.Name, a.Role, a.Passkeys, a.Created.Format(time.RFC3339), state)
	}
	return nil
}

func (c consoleOf) runRevoke(e *env, args []string) error {
	fs, f := c.flags(e, "revoke", "--dir DIR --name NAME",
		"Revokes NAME's account of the "+c.noun+"'s operator console for good: their sessions end at\n"+
			"once and their passkeys no longer sign in. Audited.")
	name := fs.String("name", "", "the person's name")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if *name == "" {
		return usageError("give --name")
	}
	db, st, err := c.open(e, f)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := st.Revoke(context.Background(), f.as, *name); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked %s\n", *name)
	return nil
}
