// Package containerlog is the logging program containerd's shim starts
// beside each container (a binary:// log URI): it appends the container's
// stdout and stderr to the container's log file.
//
// The shim can write the file itself (a file:// URI), but containerd 1.6's
// shim hands the stdout copier the file's only descriptor and closes it when
// stdout ends (pkg/process/io.go, copyPipes), so whatever stderr still held
// was lost: most often the last lines a crashing process wrote, the ones
// that say why. Here the container writes into two pipes this program
// reads; each stream's copy ends on its own end of file, and the file is
// closed after both.
//
// The shim passes the URI's query as arguments (Name, then the log
// path), the stdout pipe as descriptor 3, the stderr pipe as 4, and waits
// for descriptor 5 to close before it starts the container. It sends
// SIGTERM when the container's task is deleted, after closing its ends of
// the pipes: what the container wrote is still in them, so the program
// keeps copying until both end, for at most DrainTimeout.
package containerlog

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Name is the logging program's name (cmd/slipway-container-log, installed
// beside slipway) and the first argument the shim passes it, by which a
// test binary serving as the program recognises its invocation (Invoked).
const Name = "slipway-container-log"

// DrainTimeout bounds the copy after SIGTERM: a container's child that
// keeps its stdout open would otherwise keep this program alive.
const DrainTimeout = 5 * time.Second

// URI is the log URI of a container whose output binary copies to path.
// binary must be an absolute path (the shim runs it with an empty PATH).
func URI(binary, path string) (*url.URL, error) {
	if !filepath.IsAbs(binary) || !filepath.IsAbs(path) {
		return nil, fmt.Errorf("containerlog: the logging binary %q and the log file %q must be absolute paths", binary, path)
	}
	return &url.URL{Scheme: "binary", Path: binary, RawQuery: url.Values{Name: {path}}.Encode()}, nil
}

// Invoked tells whether a program's arguments (os.Args) are the shim's
// invocation of it as the logging binary.
func Invoked(args []string) bool {
	return len(args) == 3 && args[1] == Name
}

// ServeIfInvoked runs Main and exits when this process is the shim's
// invocation of it: a test binary that serves as the logging program calls
// it first in TestMain.
func ServeIfInvoked() {
	if Invoked(os.Args) {
		os.Exit(Main(os.Args))
	}
}

// Self is the absolute path of the running program, for LogBinary.
func Self() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("containerlog: this program's path: %w", err)
	}
	return filepath.EvalSymlinks(self)
}

// Find returns the logging program beside the running one, else the one
// on PATH.
func Find() (string, error) {
	self, err := Self()
	if err != nil {
		return "", err
	}
	beside := filepath.Join(filepath.Dir(self), Name)
	if _, err := os.Stat(beside); err == nil {
		return beside, nil
	}
	onPath, err := exec.LookPath(Name)
	if err != nil {
		return "", fmt.Errorf("containerlog: %s is neither beside %s nor on PATH (make build puts it in bin/)", Name, self)
	}
	return filepath.Abs(onPath)
}

// Main copies descriptors 3 and 4 to the log file named in args (os.Args)
// and returns the process's exit code.
func Main(args []string) int {
	if !Invoked(args) {
		fmt.Fprintf(os.Stderr, "usage: %s %s LOGFILE (run by containerd's shim)\n", filepath.Base(args[0]), Name)
		return 2
	}
	stdout, stderr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	terminate := make(chan os.Signal, 1)
	signal.Notify(terminate, syscall.SIGTERM, syscall.SIGINT)
	copied := make(chan error, 1)
	go func() { copied <- Copy(args[2], ready.Close, stdout, stderr) }()
	var err error
	select {
	case err = <-copied:
	case <-terminate:
		select {
		case err = <-copied:
		case <-time.After(DrainTimeout):
			err = errors.New("streams still open after SIGTERM; stopped copying")
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", Name, err)
		return 1
	}
	return 0
}

// Copy appends everything read from the streams to the file at path
// (created, with its directory, if missing) until every stream has ended.
// ready is called once the file is open. Each read is appended with one
// write on an O_APPEND descriptor, as the shim does, so the agent can
// rotate the file by truncating it in place.
func Copy(path string, ready func() error, streams ...io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return fmt.Errorf("log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	if err := ready(); err != nil {
		f.Close()
		return fmt.Errorf("signal ready: %w", err)
	}
	errs := make([]error, len(streams)+1)
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			if _, err := io.CopyBuffer(onlyWriter{f}, onlyReader{s}, buf); err != nil {
				errs[i] = fmt.Errorf("copy stream %d: %w", i+1, err)
			}
		})
	}
	wg.Wait()
	errs[len(streams)] = f.Close()
	return errors.Join(errs...)
}

// onlyWriter and onlyReader hide ReadFrom/WriteTo, so that io.CopyBuffer
// does one write per read instead of splicing: a splice into the file could
// be split, and a line interleaved with the other stream's.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
