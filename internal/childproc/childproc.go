// Package childproc holds what every launcher of a real peer process
// (slapd, glewlwyd, HAProxy) needs besides the process itself: a port to
// give it and the end of its log to explain a failure.
package childproc

import (
	"bytes"
	"fmt"
	"net"
	"os"
)

// tailBytes is how much of a log LogTail returns.
const tailBytes = 2000

// LogTail returns the last part of the log file at path, trimmed, or a
// description of why it could not be read.
func LogTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > tailBytes {
		b = b[len(b)-tailBytes:]
	}
	return string(bytes.TrimSpace(b))
}

// FreeLoopbackPort asks the kernel for a free loopback TCP port. Another
// process may take it before the child binds it, so callers retry a start
// that fails on an address in use.
func FreeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("choose a loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
