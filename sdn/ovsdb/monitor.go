package ovsdb

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// RowUpdate is the change of one row: Old is nil for an insert (or an
// initial row), New is nil for a delete; for a modify Old holds only the
// columns that changed and New the whole monitored row.
type RowUpdate struct {
	Old Row `json:"old"`
	New Row `json:"new"`
}

// MonitorUpdate is one delivery of a monitor: table name to row UUID to change.
// Initial is true for a complete snapshot — the first delivery and the one
// after every reconnection — which replaces whatever the receiver had.
type MonitorUpdate struct {
	Initial bool
	Tables  map[string]map[UUID]RowUpdate

	barrier chan struct{} // Barrier's marker: closed instead of delivered
}

func decodeTableUpdates(raw json.RawMessage) (map[string]map[UUID]RowUpdate, error) {
	var u map[string]map[UUID]RowUpdate
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("decode table updates: %w", err)
	}
	if u == nil {
		u = map[string]map[UUID]RowUpdate{}
	}
	return u, nil
}

// Monitor is an established monitor. Its handler runs on a goroutine of its
// own, one MonitorUpdate at a time in the server's order, so it may call the
// client; updates queue (unbounded) while it runs.
type Monitor struct {
	client   *Client
	id       string
	db       string
	requests map[string]any
	handler  func(MonitorUpdate)

	estMu sync.Mutex
	conn  *rpcConn // the connection the monitor is established on

	qmu    sync.Mutex
	queue  []MonitorUpdate
	signal chan struct{}
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}
}

// Monitor watches tables (table name to the columns wanted; nil or empty
// means every column) of database db. handler first receives the initial
// contents (Initial true), then every change; after a reconnection it gets
// a fresh initial snapshot. Monitor returns once the initial snapshot has
// been queued for delivery.
func (c *Client) Monitor(ctx context.Context, db string, tables map[string][]string, handler func(MonitorUpdate)) (*Monitor, error) {
	requests := make(map[string]any, len(tables))
	for table, cols := range tables {
		req := map[string]any{}
		if len(cols) > 0 {
			req["columns"] = cols
		}
		requests[table] = req
	}
	c.mu.Lock()
	c.nextMon++
	m := &Monitor{
		client:   c,
		id:       fmt.Sprintf("slipway-%d", c.nextMon),
		db:       db,
		requests: requests,
		handler:  handler,
		signal:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	c.monitors[m.id] = m
	c.mu.Unlock()
	go m.deliver()

	conn, err := c.current(ctx)
	if err == nil {
		err = m.establish(ctx, conn)
	}
	if err != nil {
		c.mu.Lock()
		delete(c.monitors, m.id)
		c.mu.Unlock()
		m.stopDelivery()
		return nil, fmt.Errorf("ovsdb: monitor %s: %w", db, err)
	}
	return m, nil
}

// establish sends the monitor request on conn unless it already runs
// there; the initial snapshot is queued by the reader before any update.
func (m *Monitor) establish(ctx context.Context, conn *rpcConn) error {
	m.estMu.Lock()
	if m.conn == conn {
		m.estMu.Unlock()
		return nil
	}
	m.conn = conn
	m.estMu.Unlock()
	var decodeErr error
	_, err := conn.call(ctx, "monitor", []any{m.db, m.id, m.requests}, func(raw json.RawMessage) {
		u, err := decodeTableUpdates(raw)
		if err != nil {
			decodeErr = err
			return
		}
		m.enqueue(MonitorUpdate{Initial: true, Tables: u})
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		m.estMu.Lock()
		if m.conn == conn {
			m.conn = nil
		}
		m.estMu.Unlock()
		return err
	}
	return nil
}

func (m *Monitor) enqueue(u MonitorUpdate) {
	m.qmu.Lock()
	m.queue = append(m.queue, u)
	m.qmu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

func (m *Monitor) deliver() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		case <-m.signal:
		}
		for {
			m.qmu.Lock()
			if len(m.queue) == 0 {
				m.qmu.Unlock()
				break
			}
			u := m.queue[0]
			m.queue[0] = MonitorUpdate{}
			m.queue = m.queue[1:]
			m.qmu.Unlock()
			select {
			case <-m.stop:
				return
			default:
			}
			if u.barrier != nil {
				close(u.barrier)
				continue
			}
			m.handler(u)
		}
	}
}

// Barrier returns once the handler has returned for every update the
// client had received when Barrier was called. After a transaction, a
// round trip (Client.Echo) and then Barrier make the transaction's own
// changes visible to the handler: the server sends a monitor's updates
// before it answers the next request.
func (m *Monitor) Barrier(ctx context.Context) error {
	done := make(chan struct{})
	m.enqueue(MonitorUpdate{barrier: done})
	select {
	case <-done:
		return nil
	case <-m.done:
		return fmt.Errorf("ovsdb: monitor %s: stopped", m.id)
	case <-ctx.Done():
		return fmt.Errorf("ovsdb: monitor %s barrier: %w", m.id, ctx.Err())
	}
}

func (m *Monitor) stopDelivery() {
	m.once.Do(func() { close(m.stop) })
	<-m.done
}

// Cancel ends the monitor on the server and stops delivery; it waits for
// a running handler call to return, so do not call it from the handler.
func (m *Monitor) Cancel(ctx context.Context) error {
	c := m.client
	c.mu.Lock()
	delete(c.monitors, m.id)
	c.mu.Unlock()
	m.stopDelivery()
	m.estMu.Lock()
	conn := m.conn
	m.estMu.Unlock()
	if conn == nil {
		return nil
	}
	if _, err := conn.call(ctx, "monitor_cancel", []any{m.id}, nil); err != nil {
		return fmt.Errorf("ovsdb: cancel monitor %s: %w", m.id, err)
	}
	return nil
}
