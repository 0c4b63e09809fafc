//go:build unix

package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverProc is a PostgreSQL server started by startServer: the postmaster,
// a child of the test binary, and the directory holding its data, its
// socket and its log.
type serverProc struct {
	cmd     *exec.Cmd
	dir     string
	exited  chan struct{} // closed once cmd has exited
	waitErr error         // cmd.Wait's result, once exited is closed
}

// startServer initialises a database cluster in a new temporary directory
// and starts a postmaster on it, listening on a unix socket in that
// directory only. If that cannot be done here it says why in skip.
func startServer() (p *postgres, skip string, err error) {
	bin := findBinaries()
	if bin == "" {
		return nil, "no PostgreSQL binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin; " +
			"install PostgreSQL or set " + EnvPostgres, nil
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, `running as root, and there is no "postgres" user to run PostgreSQL as`, nil
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, "", fmt.Errorf("user postgres has uid %q, gid %q", u.Uid, u.Gid)
		}
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}

	base := os.TempDir()
	if len(base) > 60 { // a unix socket path has at most 107 bytes
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "stskms-pg-")
	if err != nil {
		return nil, "", err
	}
	s := &serverProc{dir: dir, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, "", err
		}
	}

	data := filepath.Join(dir, "data")
	initdb := command(cred, dir, filepath.Join(bin, "initdb"), "-D", data, "-U", "stskms", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("initdb: %v\n%s", err, out)
	}

	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, "", err
	}
	defer logf.Close()
	s.cmd = command(cred, dir, filepath.Join(bin, "postgres"), "-D", data,
		"-k", dir, "-c", "listen_addresses=", "-p", "5432",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB", "-c", "max_connections=150")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	setPdeathsig(s.cmd) // if the test binary dies, so does the server
	if err := s.cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start postgres: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()

	u := &url.URL{Scheme: "postgres", User: url.User("stskms"), Path: "/postgres",
		RawQuery: url.Values{"host": {dir}, "sslmode": {"disable"}}.Encode()}
	p = &postgres{url: u, proc: s}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, "", fmt.Errorf("postgres exited: %v\n%s", s.waitErr, s.log())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.connect(ctx)
		cancel()
		if err == nil {
			return p, "", nil
		}
		if time.Now().After(deadline) {
			return nil, "", fmt.Errorf("postgres did not start: %v\n%s", err, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// command returns cmd, run in dir as cred (if not nil), in the C locale.
func command(cred *syscall.Credential, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd
}

// log returns the end of the server's log.
func (s *serverProc) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// stop shuts the server down (fast shutdown: sessions are ended), waits
// until the postmaster has exited, and removes its directory. It does
// nothing for a server it did not start.
func (s *serverProc) stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		err = s.signal(syscall.SIGINT, 30*time.Second)
		if err != nil {
			if s.signal(syscall.SIGQUIT, 10*time.Second) != nil {
				s.cmd.Process.Kill()
				<-s.exited
			}
		}
	}
	if s.dir != "" {
		if rerr := os.RemoveAll(s.dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// signal sends sig to the postmaster and waits at most d for it to exit.
func (s *serverProc) signal(sig os.Signal, d time.Duration) error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(d):
		return fmt.Errorf("postgres (pid %d) still running %v after %v", s.cmd.Process.Pid, d, sig)
	}
}

// findBinaries returns the directory holding initdb and postgres: that of
// the initdb on PATH, else the newest /usr/lib/postgresql/*/bin.
func findBinaries() string {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		v, _ := strconv.Atoi(strings.Split(filepath.Base(filepath.Dir(dir)), ".")[0])
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if has(d) {
			return d
		}
	}
	return ""
}
