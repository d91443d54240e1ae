// Package ovsdb is a client for the OVSDB management protocol (RFC 7047,
// JSON-RPC 1.0 over a unix socket or TCP) built on the standard library:
// list_dbs, get_schema, transact, monitor with ordered update delivery,
// echo keepalive in both directions and automatic reconnection that
// re-establishes monitors with a fresh initial state. Typed helpers for the
// OVN Northbound tables Slipway uses live in nb.go.
package ovsdb

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a Client. The zero value is usable.
type Options struct {
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// InactivityProbe is how long the connection may stay silent before
	// the client sends an echo; an echo unanswered for as long again drops
	// the connection. Zero means 5 s over TCP and none over a unix socket
	// (the server does not probe unix clients either); negative disables.
	InactivityProbe time.Duration
	// NoReconnect makes a lost connection final: calls then fail with
	// ErrDisconnected instead of waiting for a new connection.
	NoReconnect bool
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, doubling from min to max (defaults 50 ms and 2 s).
	MinBackoff, MaxBackoff time.Duration
	// TLS configures "ssl:" endpoints (client certificate and the CA that
	// signed the server's); required for them.
	TLS *tls.Config
}

// Client is a connection to one OVSDB server that survives the server's
// restarts. Its methods are safe for concurrent use. A call made while the
// connection is down waits for the next connection until its ctx ends; a
// call in flight when the connection drops fails with ErrDisconnected.
type Client struct {
	endpoint string
	opts     Options
	log      *slog.Logger

	mu       sync.Mutex
	conn     *rpcConn      // nil while disconnected
	ready    chan struct{} // closed when conn becomes non-nil
	lost     error         // set when the connection is lost for good
	monitors map[string]*Monitor
	nextMon  int

	closeOnce  sync.Once
	closing    chan struct{}
	supervisor chan struct{} // closed when the supervisor goroutine ends

	reconnects atomic.Int64
}

// Dial connects to endpoint ("unix:/path/db.sock", "tcp:127.0.0.1:6641" or
// "ssl:10.0.0.1:6642" with Options.TLS).
// The first connection must succeed within ctx; later losses are repaired
// in the background until Close.
func Dial(ctx context.Context, endpoint string, opts Options) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.InactivityProbe == 0 && (strings.HasPrefix(endpoint, "tcp:") || strings.HasPrefix(endpoint, "ssl:")) {
		opts.InactivityProbe = 5 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(2*time.Second, opts.MinBackoff)
	}
	c := &Client{
		endpoint:   endpoint,
		opts:       opts,
		log:        opts.Logger.With("endpoint", endpoint),
		ready:      make(chan struct{}),
		monitors:   map[string]*Monitor{},
		closing:    make(chan struct{}),
		supervisor: make(chan struct{}),
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("ovsdb: dial %s: %w", endpoint, err)
	}
	c.install(conn)
	go c.supervise(conn)
	return c, nil
}

func (c *Client) connect(ctx context.Context) (*rpcConn, error) {
	nc, err := dialEndpoint(ctx, c.endpoint, c.opts.TLS)
	if err != nil {
		return nil, err
	}
	conn := newRPCConn(nc, c.log, c.notification)
	if c.opts.InactivityProbe > 0 {
		go conn.keepAlive(c.opts.InactivityProbe)
	}
	return conn, nil
}

func (c *Client) install(conn *rpcConn) {
	c.mu.Lock()
	c.conn = conn
	close(c.ready)
	c.mu.Unlock()
}

// supervise owns the connection: it waits for its loss, then reconnects
// with back-off and re-establishes the monitors, until Close.
func (c *Client) supervise(conn *rpcConn) {
	defer close(c.supervisor)
	for {
		select {
		case <-c.closing:
			conn.close(ErrClosed)
			<-conn.done
			return
		case <-conn.done:
		}
		c.mu.Lock()
		c.conn = nil
		c.ready = make(chan struct{})
		if c.opts.NoReconnect {
			c.lost = conn.err
		}
		c.mu.Unlock()
		c.log.Warn("ovsdb: connection lost", "err", conn.err)
		if c.opts.NoReconnect {
			return
		}
		next := c.reconnect()
		if next == nil {
			return // closing
		}
		conn = next
	}
}

// reconnect dials until it succeeds and the monitors are back, or the
// client closes (nil).
func (c *Client) reconnect() *rpcConn {
	backoff := c.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		select {
		case <-c.closing:
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.MaxBackoff+time.Second)
		conn, err := c.connect(ctx)
		if err == nil {
			// Counted before the monitors' fresh snapshots are delivered,
			// so a receiver of one already sees the new count.
			c.reconnects.Add(1)
			err = c.reestablish(ctx, conn)
			if err != nil {
				conn.close(err)
				<-conn.done
			}
		}
		cancel()
		if err != nil {
			c.log.Debug("ovsdb: reconnect failed", "attempt", attempt, "err", err)
			continue
		}
		c.log.Info("ovsdb: reconnected", "attempts", attempt)
		c.install(conn)
		return conn
	}
}

func (c *Client) reestablish(ctx context.Context, conn *rpcConn) error {
	c.mu.Lock()
	mons := make([]*Monitor, 0, len(c.monitors))
	for _, m := range c.monitors {
		mons = append(mons, m)
	}
	c.mu.Unlock()
	for _, m := range mons {
		if err := m.establish(ctx, conn); err != nil {
			return fmt.Errorf("re-establish monitor %s: %w", m.id, err)
		}
	}
	return nil
}

// Reconnects reports how many new connections were made after losing one.
func (c *Client) Reconnects() int64 { return c.reconnects.Load() }

// Close ends the connection, the monitors and every goroutine of c.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	<-c.supervisor
	c.mu.Lock()
	mons := c.monitors
	c.monitors = map[string]*Monitor{}
	c.mu.Unlock()
	for _, m := range mons {
		m.stopDelivery()
	}
	return nil
}

// current returns the live connection, waiting for one while reconnecting.
func (c *Client) current(ctx context.Context) (*rpcConn, error) {
	for {
		c.mu.Lock()
		conn, ready, lost := c.conn, c.ready, c.lost
		c.mu.Unlock()
		if conn != nil {
			return conn, nil
		}
		if lost != nil {
			return nil, lost
		}
		select {
		case <-ready:
		case <-c.closing:
			return nil, ErrClosed
		case <-c.supervisor:
			// Supervisor ended without closing: NoReconnect; lost is set.
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a connection: %w", ctx.Err())
		}
	}
}

// Call sends any JSON-RPC request and decodes its result into result (which
// may be nil). It returns when the answer arrives or ctx ends.
func (c *Client) Call(ctx context.Context, method string, params []any, result any) error {
	conn, err := c.current(ctx)
	if err != nil {
		return fmt.Errorf("ovsdb: %s: %w", method, err)
	}
	raw, err := conn.call(ctx, method, params, nil)
	if err != nil {
		return fmt.Errorf("ovsdb: %w", err)
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("ovsdb: %s: decode result: %w", method, err)
	}
	return nil
}

// ListDatabases returns the names of the server's databases.
func (c *Client) ListDatabases(ctx context.Context) ([]string, error) {
	var names []string
	err := c.Call(ctx, "list_dbs", nil, &names)
	return names, err
}

// Echo makes a round trip to the server.
func (c *Client) Echo(ctx context.Context) error {
	return c.Call(ctx, "echo", []any{"slipway"}, nil)
}

// Schema is the part of a database schema Slipway needs.
type Schema struct {
	Name    string                 `json:"name"`
	Version string                 `json:"version"`
	Tables  map[string]TableSchema `json:"tables"`
}

// TableSchema describes one table: its columns (type left raw), whether
// it is a root table (non-root rows nobody references are deleted) and its
// unique indexes.
type TableSchema struct {
	Columns map[string]json.RawMessage `json:"columns"`
	IsRoot  bool                       `json:"isRoot"`
	Indexes [][]string                 `json:"indexes"`
}

// GetSchema returns the schema of database db.
func (c *Client) GetSchema(ctx context.Context, db string) (*Schema, error) {
	var s Schema
	if err := c.Call(ctx, "get_schema", []any{db}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Transact runs ops atomically in database db and returns one result per
// operation. If an operation (or the commit) fails, the results are
// returned along with an *OperationError naming the operation and the
// reason; nothing was changed.
func (c *Client) Transact(ctx context.Context, db string, ops ...Operation) ([]OperationResult, error) {
	params := make([]any, 0, len(ops)+1)
	params = append(params, db)
	for _, op := range ops {
		params = append(params, op)
	}
	var results []OperationResult
	if err := c.Call(ctx, "transact", params, &results); err != nil {
		return nil, err
	}
	if err := operationError(ops, results); err != nil {
		return results, fmt.Errorf("ovsdb: transact on %s: %w", db, err)
	}
	if len(results) < len(ops) {
		return results, fmt.Errorf("ovsdb: transact on %s: %d results for %d operations", db, len(results), len(ops))
	}
	return results[:len(ops)], nil
}

func (c *Client) notification(method string, params json.RawMessage) {
	if method != "update" {
		return // locked/stolen and update2/3 are not requested by this client
	}
	var p []json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil || len(p) != 2 {
		c.log.Warn("ovsdb: malformed update notification", "err", err)
		return
	}
	var id string
	if err := json.Unmarshal(p[0], &id); err != nil {
		c.log.Warn("ovsdb: update for a monitor id that is not ours", "id", string(p[0]))
		return
	}
	c.mu.Lock()
	m := c.monitors[id]
	c.mu.Unlock()
	if m == nil {
		return
	}
	u, err := decodeTableUpdates(p[1])
	if err != nil {
		c.log.Warn("ovsdb: undecodable update", "monitor", id, "err", err)
		return
	}
	m.enqueue(MonitorUpdate{Tables: u})
}
