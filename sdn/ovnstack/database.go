package ovnstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway/slipway/sdn/ovsdb"
)

// Schemas shipped by the Debian packages ovn-common and openvswitch-common.
const (
	NorthboundSchema = "/usr/share/ovn/ovn-nb.ovsschema"
	SouthboundSchema = "/usr/share/ovn/ovn-sb.ovsschema"
	VSwitchSchema    = "/usr/share/openvswitch/vswitch.ovsschema"
)

// DatabaseConfig describes one ovsdb-server serving one database file.
type DatabaseConfig struct {
	// Dir holds every file: <Name>.db, <Name>.sock, <Name>.pid, <Name>.ctl,
	// <Name>.log and <Name>.out (the console output).
	Dir string
	// Name is the file stem, e.g. "nb".
	Name string
	// Schema is the .ovsschema file used to create the database on first
	// start; an existing <Name>.db is reused.
	Schema string
	// ListenTCP, when set ("127.0.0.1:6641"), also serves the database over
	// TCP for remote clients: plain, or SSL when TLS is set.
	ListenTCP string
	// TLS, when set, makes the TCP listener SSL: clients must present a
	// certificate the CA signed.
	TLS *TLSFiles
	// NetNS runs the server inside this network namespace.
	NetNS string
	// Env is added to the daemon's environment.
	Env []string
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
	// OnExit is told when the server exits without Stop.
	OnExit func(name string, err error)
}

// Database is a running ovsdb-server.
type Database struct {
	cfg    DatabaseConfig
	daemon *daemon
}

// StartDatabase creates the database file if needed, starts ovsdb-server
// (or adopts the one an earlier run left serving the same file with the
// same options) and returns once it answers on its unix socket.
func StartDatabase(ctx context.Context, cfg DatabaseConfig) (*Database, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("database %s: %w", cfg.Name, err)
	}
	file := filepath.Join(cfg.Dir, cfg.Name+".db")
	if err := createDatabaseFile(ctx, file, cfg.Schema); err != nil {
		return nil, fmt.Errorf("database %s: %w", cfg.Name, err)
	}
	sock := filepath.Join(cfg.Dir, cfg.Name+".sock")
	args := []string{file, "--remote=punix:" + sock}
	if cfg.ListenTCP != "" {
		host, port, ok := strings.Cut(cfg.ListenTCP, ":")
		if !ok {
			return nil, fmt.Errorf("database %s: listen address %q: want HOST:PORT", cfg.Name, cfg.ListenTCP)
		}
		if cfg.TLS != nil {
			args = append(args, "--remote=pssl:"+port+":"+host)
			args = append(args, cfg.TLS.args()...)
		} else {
			args = append(args, "--remote=ptcp:"+port+":"+host)
		}
	}
	args = append(args, daemonFileArgs(cfg.Dir, cfg.Name, true)...)
	spec := daemonSpec{name: cfg.Name, dir: cfg.Dir, netns: cfg.NetNS, bin: "ovsdb-server", args: args, env: cfg.Env,
		healthy: func(ctx context.Context, _ int) error { return ovsdbAnswers(ctx, "unix:"+sock) }}
	d, err := adoptOrStart(ctx, spec, true, cfg.Logger, cfg.OnExit)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", cfg.Name, err)
	}
	db := &Database{cfg: cfg, daemon: d}
	if err := waitAnswering(ctx, d, "unix:"+sock); err != nil {
		_ = d.stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("database %s: %w", cfg.Name, err)
	}
	return db, nil
}

// daemonFileArgs are the options that keep a daemon's pid file, log and
// (optionally) control socket under dir.
func daemonFileArgs(dir, name string, unixctl bool) []string {
	args := []string{
		"--no-chdir",
		"--pidfile=" + filepath.Join(dir, name+".pid"),
		"--log-file=" + filepath.Join(dir, name+".log"),
	}
	if unixctl {
		args = append(args, "--unixctl="+filepath.Join(dir, name+".ctl"))
	}
	return args
}

func createDatabaseFile(ctx context.Context, file, schema string) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := exec.CommandContext(ctx, "ovsdb-tool", "create", file, schema).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ovsdb-tool create %s %s: %w: %s", file, schema, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitAnswering polls endpoint until the server answers list_dbs, the
// daemon exits, or ctx ends.
func waitAnswering(ctx context.Context, d *daemon, endpoint string) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		c, err := ovsdb.Dial(ctx, endpoint, ovsdb.Options{NoReconnect: true})
		if err == nil {
			_, err = c.ListDatabases(ctx)
			_ = c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-d.done:
			return fmt.Errorf("%s exited during start-up: %v; see %s", d.spec.name, d.exitErr,
				filepath.Join(d.spec.dir, d.spec.name+".log"))
		case <-ctx.Done():
			return fmt.Errorf("%s not answering on %s: %w (last error: %v)", d.spec.name, endpoint, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// Endpoint is the database's unix socket endpoint, "unix:<dir>/<name>.sock".
func (db *Database) Endpoint() string {
	return "unix:" + filepath.Join(db.cfg.Dir, db.cfg.Name+".sock")
}

// TCPEndpoint is "tcp:HOST:PORT" (or "ssl:HOST:PORT" with TLS) when
// ListenTCP was set, else "".
func (db *Database) TCPEndpoint() string {
	switch {
	case db.cfg.ListenTCP == "":
		return ""
	case db.cfg.TLS != nil:
		return "ssl:" + db.cfg.ListenTCP
	}
	return "tcp:" + db.cfg.ListenTCP
}

// Adopted reports whether the server is a survivor of an earlier run.
func (db *Database) Adopted() bool { return db.daemon.adopted }

// PID is the server's process id.
func (db *Database) PID() int { return db.daemon.pid() }

// Stop terminates the server and waits for it to exit.
func (db *Database) Stop(ctx context.Context) error { return db.daemon.stop(ctx) }

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
// OnExit is called as for any unexpected exit.
func (db *Database) Kill() error { return db.daemon.kill() }
