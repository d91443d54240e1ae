// Package pgserver runs a private PostgreSQL server as a supervised child
// process, with its data, socket and log in one directory. `slipway up` and
// the tests use it when no external database is configured.
//
// The server listens only on a Unix socket inside its data directory, so
// several instances never compete for a port. As root it runs under the
// unprivileged "postgres" account (initdb refuses to run as root).
package pgserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultBinDir is where Debian installs PostgreSQL 15.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// Config configures a private server.
type Config struct {
	// Dir is the data directory; initdb runs on first start.
	Dir string
	// BinDir holds initdb and postgres (default DefaultBinDir).
	BinDir string
	// NoFsync turns fsync off: for tests and benchmarks only.
	NoFsync bool
	// Logger receives the launcher's logs (default slog.Default()).
	Logger *slog.Logger
}

// Server is a running private PostgreSQL, restarted if it dies until Stop.
type Server struct {
	cfg  Config
	cred *syscall.Credential
	log  *slog.Logger

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool

	supervise context.CancelFunc
	done      chan struct{}
}

// Start initialises the data directory if needed, starts the server and
// waits until it accepts connections.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.BinDir == "" {
		cfg.BinDir = DefaultBinDir
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("postgres data directory: %w", err)
	}
	cfg.Dir = dir
	for _, bin := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, bin)); err != nil {
			return nil, fmt.Errorf("PostgreSQL 15 not installed (%w); run `make deps` or pass --database-url", err)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("peer", "postgres")}
	if os.Geteuid() == 0 {
		if s.cred, err = postgresAccount(); err != nil {
			return nil, err
		}
	}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	if err := s.initdb(ctx); err != nil {
		return nil, err
	}
	if err := s.startProcess(ctx); err != nil {
		return nil, err
	}
	superviseCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.supervise, s.done = cancel, make(chan struct{})
	go s.superviseLoop(superviseCtx)
	return s, nil
}

// DSN returns the connection string for the server's socket.
func (s *Server) DSN() string {
	return fmt.Sprintf("host=%s user=postgres dbname=postgres sslmode=disable", s.cfg.Dir)
}

// Dir returns the data directory.
func (s *Server) Dir() string { return s.cfg.Dir }

func postgresAccount() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the unprivileged \"postgres\" account (installed with PostgreSQL): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepareDir creates the data directory, gives it to the server's account
// and checks that account can reach it.
func (s *Server) prepareDir() error {
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("create postgres data directory: %w", err)
	}
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(s.cfg.Dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("give %s to the postgres account: %w", s.cfg.Dir, err)
	}
	// The account must be able to traverse every parent directory.
	for p := filepath.Dir(s.cfg.Dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check %s: %w", p, err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the postgres account cannot reach %s: %s is not traversable by others (chmod o+x it, choose another --data-dir, or pass --database-url)", s.cfg.Dir, p)
		}
		if p == "/" {
			return nil
		}
	}
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.cfg.BinDir, name), args...)
	// Own process group: a Ctrl-C in the terminal reaches Slipway, which
	// stops PostgreSQL last, after everything that uses it. No parent-death
	// signal: Linux ties it to the forking thread, which the Go runtime may
	// end (a goroutine that locked a thread to enter a network namespace
	// exits with it) while Slipway runs on. A server left behind by a
	// crashed Slipway is stopped at the next start instead (stopStale).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	cmd.Dir = s.cfg.Dir
	return cmd
}

func (s *Server) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.cfg.Dir, "PG_VERSION")); err == nil {
		return nil
	}
	start := time.Now()
	args := []string{"-D", s.cfg.Dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"}
	if s.cfg.NoFsync {
		args = append(args, "--no-sync")
	}
	out, err := s.command(ctx, "initdb", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb %s: %w: %s", s.cfg.Dir, err, lastLines(string(out), 5))
	}
	s.log.InfoContext(ctx, "initialised PostgreSQL data directory", "dir", s.cfg.Dir, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (s *Server) logPath() string { return filepath.Join(s.cfg.Dir, "server.log") }

// stopStale stops a server that a crashed Slipway left running on this
// data directory (its postmaster.pid names a live postgres process).
func (s *Server) stopStale(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(s.cfg.Dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 1 {
		return nil
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
		return nil // gone, or the PID was reused: postgres handles the stale file
	}
	s.log.WarnContext(ctx, "stopping a PostgreSQL left running by an earlier Slipway", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGINT) // fast shutdown
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // polling another process's exit
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return nil
}

func (s *Server) startProcess(ctx context.Context) error {
	if err := s.stopStale(ctx); err != nil {
		return err
	}
	args := []string{"-D", s.cfg.Dir, "-k", s.cfg.Dir, "-c", "listen_addresses=", "-c", "max_connections=200"}
	if s.cfg.NoFsync {
		args = append(args, "-F")
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open postgres log: %w", err)
	}
	// Not bound to ctx: the server outlives the start-up call until Stop.
	cmd := s.command(context.WithoutCancel(ctx), "postgres", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	if err := s.waitReady(ctx, exited, 60*time.Second); err != nil {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-exited
		return err
	}
	s.log.InfoContext(ctx, "PostgreSQL accepting connections", "pid", cmd.Process.Pid, "socket_dir", s.cfg.Dir,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// waitReady polls postmaster.pid, whose last line says "ready" once the
// server accepts connections.
func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}, bound time.Duration) error {
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(filepath.Join(s.cfg.Dir, "postmaster.pid")) {
			return nil
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(s.logPath())
			return fmt.Errorf("postgres exited during start-up: %s", lastLines(string(b), 5))
		case <-deadline.C:
			return fmt.Errorf("postgres not ready within %s (log: %s)", bound, s.logPath())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func ready(pidFile string) bool {
	f, err := os.Open(pidFile)
	if err != nil {
		return false
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	// Line 8 is the postmaster status (PostgreSQL ≥ 10).
	return len(lines) >= 8 && strings.TrimSpace(lines[7]) == "ready"
}

// superviseLoop restarts the server when it dies unexpectedly.
func (s *Server) superviseLoop(ctx context.Context) {
	defer close(s.done)
	backoff := 200 * time.Millisecond
	for {
		s.mu.Lock()
		exited := s.exited
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-exited:
		}
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			return
		}
		s.log.ErrorContext(ctx, "PostgreSQL exited unexpectedly; restarting", "backoff", backoff, "log", s.logPath())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if err := s.startProcess(ctx); err != nil {
			s.log.ErrorContext(ctx, "restarting PostgreSQL failed", "error", err)
			backoff = min(2*backoff, 10*time.Second)
			// Keep looping on a closed channel until a start succeeds.
			closed := make(chan struct{})
			close(closed)
			s.mu.Lock()
			s.exited = closed
			s.mu.Unlock()
			continue
		}
		backoff = 200 * time.Millisecond
	}
}

// Stop shuts the server down cleanly ("fast" shutdown: running
// transactions are rolled back, everything committed is on disk) and waits
// for it to exit; when ctx ends first it kills the server.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	s.supervise()
	<-s.done
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
		return errors.Join(errors.New("postgres did not stop in time and was killed"), ctx.Err())
	}
}

// Kill ends the server abruptly, as a crash would, without stopping the
// supervisor: it restarts the server. For tests of crash recovery.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Kill()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
