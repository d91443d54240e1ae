package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// defaultCommandTimeout bounds one command when ctx has no deadline.
const defaultCommandTimeout = 10 * time.Second

// command sends one CLI command to the unix socket at path and returns the
// whole reply. It half-closes the connection after writing: the master CLI
// keeps a connection open, and so the read would hang, until the client
// closes its side.
func command(ctx context.Context, path, cmd string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return "", fmt.Errorf("haproxy CLI %s: %w", path, err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultCommandTimeout)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return "", fmt.Errorf("haproxy CLI %s: %w", path, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fmt.Errorf("haproxy CLI %s: send %q: %w", path, cmd, err)
	}
	if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
		return "", fmt.Errorf("haproxy CLI %s: half-close after %q: %w", path, cmd, err)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = errors.Join(ctxErr, err)
		}
		return string(reply), fmt.Errorf("haproxy CLI %s: reply to %q: %w", path, cmd, err)
	}
	return string(reply), nil
}
