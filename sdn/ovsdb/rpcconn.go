package ovsdb

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the connection itself, as opposed to those the server reports.
const (
	// ErrDisconnected: the connection was lost before the answer came; the
	// request may or may not have been carried out.
	ErrDisconnected = ErrorKind("connection to the OVSDB server lost")
	// ErrClosed: the client was closed.
	ErrClosed = ErrorKind("ovsdb client closed")
)

// RPCError is an error the server returned for a whole request (as opposed
// to one operation of a transaction).
type RPCError struct {
	Method  string
	Kind    ErrorKind
	Details string
}

func (e *RPCError) Error() string {
	if e.Details == "" {
		return fmt.Sprintf("%s: %s", e.Method, e.Kind)
	}
	return fmt.Sprintf("%s: %s: %s", e.Method, e.Kind, e.Details)
}

// Is makes errors.Is(err, ErrUnknownDatabase) and the like work.
func (e *RPCError) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && k == e.Kind
}

// message is any JSON-RPC 1.0 message, in either direction.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

type response struct {
	result json.RawMessage
	err    error
}

type pendingCall struct {
	method string
	ch     chan response // buffered, receives exactly one response
	// onResult, when set, runs in the reader goroutine on success, before
	// any later message is handled (used to order a monitor's initial
	// state before its first update).
	onResult func(json.RawMessage)
}

// rpcConn is one JSON-RPC 1.0 connection: concatenated JSON objects in both
// directions, requests matched to responses by integer id, the server's
// echo requests answered at once, notifications handed to notify.
type rpcConn struct {
	conn   net.Conn
	log    *slog.Logger
	notify func(method string, params json.RawMessage)

	wmu sync.Mutex
	enc *json.Encoder

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*pendingCall
	cause   error // why the connection is being closed, set once

	done     chan struct{} // closed when the reader has exited
	err      error         // valid after done
	lastRead atomic.Int64  // unix nanoseconds of the last message read

	echoesAnswered atomic.Int64
}

func dialEndpoint(ctx context.Context, endpoint string, tlsConfig *tls.Config) (net.Conn, error) {
	var d net.Dialer
	switch {
	case strings.HasPrefix(endpoint, "unix:"):
		return d.DialContext(ctx, "unix", strings.TrimPrefix(endpoint, "unix:"))
	case strings.HasPrefix(endpoint, "tcp:"):
		return d.DialContext(ctx, "tcp", strings.TrimPrefix(endpoint, "tcp:"))
	case strings.HasPrefix(endpoint, "ssl:"):
		if tlsConfig == nil {
			return nil, fmt.Errorf("endpoint %q: an ssl: endpoint needs a TLS configuration", endpoint)
		}
		td := tls.Dialer{NetDialer: &d, Config: tlsConfig}
		return td.DialContext(ctx, "tcp", strings.TrimPrefix(endpoint, "ssl:"))
	default:
		return nil, fmt.Errorf("endpoint %q: want unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT", endpoint)
	}
}

func newRPCConn(conn net.Conn, log *slog.Logger, notify func(string, json.RawMessage)) *rpcConn {
	c := &rpcConn{
		conn:    conn,
		log:     log,
		notify:  notify,
		enc:     json.NewEncoder(conn),
		pending: map[uint64]*pendingCall{},
		done:    make(chan struct{}),
	}
	c.lastRead.Store(time.Now().UnixNano())
	go c.readLoop()
	return c
}

// close drops the connection; pending and later calls fail with cause.
func (c *rpcConn) close(cause error) {
	c.mu.Lock()
	if c.cause == nil {
		c.cause = cause
	}
	c.mu.Unlock()
	_ = c.conn.Close()
}

func (c *rpcConn) readLoop() {
	dec := json.NewDecoder(c.conn)
	var readErr error
	for {
		var msg message
		if err := dec.Decode(&msg); err != nil {
			readErr = err
			break
		}
		c.lastRead.Store(time.Now().UnixNano())
		if err := c.dispatch(msg); err != nil {
			readErr = err
			_ = c.conn.Close()
			break
		}
	}
	c.mu.Lock()
	cause := c.cause
	if cause == nil {
		cause = fmt.Errorf("%w: %w", ErrDisconnected, readErr)
		c.cause = cause
	}
	pending := c.pending
	c.pending = nil
	c.err = cause
	c.mu.Unlock()
	for _, p := range pending {
		p.ch <- response{err: fmt.Errorf("%s: %w", p.method, cause)}
	}
	close(c.done)
}

func (c *rpcConn) dispatch(msg message) error {
	switch {
	case msg.Method == "echo":
		// Answer with the same params and id, or the server drops us.
		c.echoesAnswered.Add(1)
		params := msg.Params
		if len(params) == 0 {
			params = json.RawMessage("[]")
		}
		return c.write(map[string]any{"result": params, "error": nil, "id": msg.ID})
	case msg.Method != "":
		if c.notify != nil {
			c.notify(msg.Method, msg.Params)
		}
		return nil
	}
	id, err := strconv.ParseUint(string(msg.ID), 10, 64)
	if err != nil {
		c.log.Warn("ovsdb: response with unknown id", "id", string(msg.ID))
		return nil
	}
	c.mu.Lock()
	p := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if p == nil {
		return nil // the caller gave up (context ended)
	}
	if isPresent(msg.Error) {
		p.ch <- response{err: decodeRPCError(p.method, msg.Error)}
		return nil
	}
	if p.onResult != nil {
		p.onResult(msg.Result)
	}
	p.ch <- response{result: msg.Result}
	return nil
}

func isPresent(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func decodeRPCError(method string, raw json.RawMessage) error {
	var obj struct {
		Error   string `json:"error"`
		Details string `json:"details"`
	}
	if err := json.Unmarshal(raw, &obj); err == nil && obj.Error != "" {
		return &RPCError{Method: method, Kind: ErrorKind(obj.Error), Details: obj.Details}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return &RPCError{Method: method, Kind: ErrorKind(s)}
	}
	return &RPCError{Method: method, Kind: ErrorKind(string(raw))}
}

func (c *rpcConn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.enc.Encode(v); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// call sends one request and waits for its response, the connection's end
// or ctx's end, whichever comes first.
func (c *rpcConn) call(ctx context.Context, method string, params []any, onResult func(json.RawMessage)) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	p := &pendingCall{method: method, ch: make(chan response, 1), onResult: onResult}
	c.mu.Lock()
	if c.pending == nil {
		err := c.cause
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = p
	c.mu.Unlock()

	if err := c.write(map[string]any{"method": method, "params": params, "id": id}); err != nil {
		c.forget(id)
		c.close(fmt.Errorf("%w: %w", ErrDisconnected, err))
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-p.ch:
		return r.result, r.err
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (c *rpcConn) forget(id uint64) {
	c.mu.Lock()
	if c.pending != nil {
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// keepAlive sends an echo whenever the connection has been silent for
// probe, and drops the connection when the echo goes unanswered for
// another probe. It returns when the connection ends.
func (c *rpcConn) keepAlive(probe time.Duration) {
	tick := time.NewTicker(probe / 2)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
		}
		idle := time.Since(time.Unix(0, c.lastRead.Load()))
		if idle < probe {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), probe)
		_, err := c.call(ctx, "echo", []any{"slipway-keepalive"}, nil)
		cancel()
		if err != nil && !errors.Is(err, ErrDisconnected) {
			c.log.Warn("ovsdb: no answer to inactivity probe, dropping connection", "after", probe, "err", err)
			c.close(fmt.Errorf("%w: no answer to inactivity probe after %s", ErrDisconnected, probe))
			return
		}
	}
}
