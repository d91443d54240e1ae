package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/cli"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/pgserver"
	"github.com/slipway/slipway/server/store/storetest"
)

// TestMain makes the test binary double as slip: testscript runs it under
// that name for every "slip" line of a script, a separate process talking
// to the server this process runs.
func TestMain(m *testing.M) {
	testscript.Main(stopPostgresAfter{m}, map[string]func(){
		"slip": func() { os.Exit(cli.Main()) },
	})
}

// pg is the test PostgreSQL once a test has started it.
var pg *pgserver.Server

// stopPostgresAfter runs the tests and then stops the PostgreSQL they
// used, as storetest.Main does (which cannot wrap testscript.Main: both
// want to own the process's exit).
type stopPostgresAfter struct{ m *testing.M }

func (s stopPostgresAfter) Run() int {
	code := s.m.Run()
	if pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = pg.Stop(ctx)
		cancel()
		// storetest keeps the server's data under /tmp/slipway-pg-*/data.
		if dir := filepath.Dir(pg.Dir()); strings.HasPrefix(filepath.Base(dir), "slipway-pg-") {
			os.RemoveAll(dir)
		}
	}
	return code
}

const adminPassword = "admin-password-for-cli-tests"

// TestScripts runs testdata/script/*.txtar against a real API server over
// a real PostgreSQL. Scripts get:
//
//	SLIP_SERVER      the server's URL (and SLIP_SERVER_PORT its port)
//	SLIP_CA          its certificate authority
//	ADMIN_PASSWORD   the bootstrap admin's password
//	ADMIN_TOKEN      a token of admin, so scripts need not all log in
//	                 with the password (logins are rate-limited)
//
// and their own configuration file under $WORK/.config.
func TestScripts(t *testing.T) {
	pg = storetest.Server(t)
	srv, err := server.Start(context.Background(), server.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: storetest.NewDatabase(t),
		BootstrapPassword: adminPassword, BookmarkEvery: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	token := adminToken(t, srv)

	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("SLIP_SERVER", srv.URL())
			e.Setenv("SLIP_SERVER_PORT", srv.URL()[strings.LastIndex(srv.URL(), ":")+1:])
			e.Setenv("SLIP_CA", srv.CAFile())
			e.Setenv("ADMIN_PASSWORD", adminPassword)
			e.Setenv("ADMIN_TOKEN", token)
			e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, ".config"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":   cmdExitcode,
			"capture":    cmdCapture,
			"eventually": cmdEventually,
		},
	})
}

func adminToken(t *testing.T, srv *server.Server) string {
	t.Helper()
	c, err := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile()})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": adminPassword})
	var res struct{ Token string }
	if err := c.Do(context.Background(), "POST", "/auth/login", "application/json", body, &res); err != nil {
		t.Fatalf("log in as admin: %v", err)
	}
	return res.Token
}

// cmdExitcode runs a command and checks its exit code:
//
//	exitcode 2 slip get widgets
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		got = exit.ExitCode()
	case err != nil:
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// cmdEventually runs a command until its standard output matches a
// regular expression (multi-line mode), for state that controllers
// settle asynchronously; it fails after 20 s:
//
//	eventually 'cannot be scheduled' slip status
func cmdEventually(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: eventually REGEXP COMMAND [ARGS...]")
	}
	re, err := regexp.Compile("(?m)" + args[0])
	if err != nil {
		ts.Fatalf("eventually: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := ts.Exec(args[1], args[2:]...)
		if err == nil && re.MatchString(ts.ReadFile("stdout")) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("eventually: %s did not print a match of %q within 20 s (last error %v)", strings.Join(args[1:], " "), args[0], err)
		}
		time.Sleep(100 * time.Millisecond) // bounded poll of a real server
	}
}

// cmdCapture sets an environment variable to the last command's standard
// output, trimmed:
//
//	capture TOKEN
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: capture NAME")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile("stdout")))
}
