package ovsdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
)

// startNB starts a lone Northbound ovsdb-server through Slipway's launcher,
// in a short temp dir (unix socket paths are limited to 108 bytes).
func startNB(t *testing.T, listenTCP string) (*ovnstack.Database, ovnstack.DatabaseConfig) {
	t.Helper()
	testpeer.RequireBinary(t, "ovsdb-server (openvswitch-common)", "ovsdb-server")
	testpeer.RequireBinary(t, "ovsdb-tool (openvswitch-common)", "ovsdb-tool")
	if _, err := os.Stat(ovnstack.NorthboundSchema); err != nil {
		testpeer.Missing(t, "OVN NB schema (ovn-common)", err)
	}
	dir, err := os.MkdirTemp("", "ovsdbtest")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ovnstack.DatabaseConfig{Dir: dir, Name: "nb", Schema: ovnstack.NorthboundSchema, ListenTCP: listenTCP}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := ovnstack.StartDatabase(ctx, cfg)
	if err != nil {
		t.Fatalf("start NB ovsdb-server: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	return db, cfg
}

func dial(t *testing.T, endpoint string, opts ovsdb.Options) *ovsdb.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ovsdb.Dial(ctx, endpoint, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestListDatabasesAndSchema(t *testing.T) {
	db, _ := startNB(t, "")
	c := dial(t, db.Endpoint(), ovsdb.Options{})
	ctx := testCtx(t)
	names, err := c.ListDatabases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range names {
		found = found || n == ovsdb.NorthboundDB
	}
	if !found {
		t.Fatalf("list_dbs = %v, want %s among them", names, ovsdb.NorthboundDB)
	}
	s, err := c.GetSchema(ctx, ovsdb.NorthboundDB)
	if err != nil {
		t.Fatal(err)
	}
	lsp, ok := s.Tables[ovsdb.TableLogicalSwitchPort]
	if !ok || lsp.IsRoot || len(lsp.Indexes) == 0 || lsp.Indexes[0][0] != "name" {
		t.Fatalf("Logical_Switch_Port schema = %+v, want non-root with a name index", lsp)
	}
	if _, err := c.GetSchema(ctx, "No_Such_DB"); !errors.Is(err, ovsdb.ErrUnknownDatabase) {
		t.Fatalf("get_schema of an unknown db: err = %v, want ErrUnknownDatabase", err)
	}
}

func switchOps(name, port string) []ovsdb.Operation {
	ops := []ovsdb.Operation{
		ovsdb.Insert(ovsdb.TableLogicalSwitch, ovsdb.LogicalSwitch{Name: name, ExternalIDs: map[string]string{"project": "demo"}}.Row(), "newls"),
	}
	ops = append(ops, ovsdb.InsertReferenced(ovsdb.TableLogicalSwitch, ovsdb.NamedUUID("newls"), "ports",
		ovsdb.TableLogicalSwitchPort, ovsdb.LogicalSwitchPort{Name: port, Addresses: []string{"0a:58:0a:00:00:0b 10.0.0.11"}}.Row(), "newlsp")...)
	return append(ops, ovsdb.Comment("slipway test"))
}

func TestTransact(t *testing.T) {
	db, _ := startNB(t, "")
	c := dial(t, db.Endpoint(), ovsdb.Options{})
	ctx := testCtx(t)
	if _, err := c.Transact(ctx, ovsdb.NorthboundDB, switchOps("ls-base", "base-p1")...); err != nil {
		t.Fatalf("create base switch: %v", err)
	}
	notExists := func(name string) ovsdb.Operation {
		return ovsdb.Wait(ovsdb.TableLogicalSwitch, 0, []ovsdb.Condition{ovsdb.Equal("name", name)}, []string{"name"}, "==", nil)
	}

	tests := []struct {
		name      string
		ops       []ovsdb.Operation
		wantKind  ovsdb.ErrorKind // "" for success
		wantIndex int
		wantOp    string
		check     func(t *testing.T, res []ovsdb.OperationResult)
	}{
		{
			name: "insert switch and port linked by named-uuid",
			ops:  switchOps("ls1", "ls1-p1"),
			check: func(t *testing.T, res []ovsdb.OperationResult) {
				if res[0].UUID == "" || res[1].UUID == "" || res[2].Count != 1 {
					t.Fatalf("results = %+v, want two uuids and count 1", res)
				}
				switches, err := ovsdb.SelectRows(ctx, c, ovsdb.NorthboundDB, ovsdb.TableLogicalSwitch,
					[]ovsdb.Condition{ovsdb.Equal("_uuid", res[0].UUID)}, ovsdb.LogicalSwitchFromRow)
				if err != nil {
					t.Fatal(err)
				}
				if len(switches) != 1 || len(switches[0].Ports) != 1 || switches[0].Ports[0] != res[1].UUID ||
					switches[0].ExternalIDs["project"] != "demo" {
					t.Fatalf("switch = %+v, want port %s and project demo", switches, res[1].UUID)
				}
			},
		},
		{
			name:      "duplicate port name fails at commit",
			ops:       switchOps("ls-dup", "base-p1"),
			wantKind:  ovsdb.ErrConstraintViolation,
			wantIndex: 4,
			wantOp:    "commit",
		},
		{
			name: "wait then insert creates when absent",
			ops:  []ovsdb.Operation{notExists("ls-once"), ovsdb.Insert(ovsdb.TableLogicalSwitch, ovsdb.LogicalSwitch{Name: "ls-once"}.Row(), "")},
		},
		{
			name:      "wait then insert refuses when present",
			ops:       []ovsdb.Operation{notExists("ls-once"), ovsdb.Insert(ovsdb.TableLogicalSwitch, ovsdb.LogicalSwitch{Name: "ls-once"}.Row(), "")},
			wantKind:  ovsdb.ErrTimedOut,
			wantIndex: 0,
			wantOp:    "wait",
		},
		{
			name: "update and mutate",
			ops: []ovsdb.Operation{
				ovsdb.Update(ovsdb.TableLogicalSwitch, []ovsdb.Condition{ovsdb.Equal("name", "ls-once")},
					map[string]any{"other_config": ovsdb.Map[string, string]{"subnet": "10.0.0.0/24"}}),
				ovsdb.Mutate(ovsdb.TableLogicalSwitch, []ovsdb.Condition{ovsdb.Equal("name", "ls-once")},
					ovsdb.Mutation{Column: "external_ids", Mutator: "insert", Value: ovsdb.Map[string, string]{"owner": "t"}}),
				ovsdb.Select(ovsdb.TableLogicalSwitch, []ovsdb.Condition{ovsdb.Equal("name", "ls-once")}),
			},
			check: func(t *testing.T, res []ovsdb.OperationResult) {
				if res[0].Count != 1 || res[1].Count != 1 || len(res[2].Rows) != 1 {
					t.Fatalf("results = %+v", res)
				}
				ls, err := ovsdb.LogicalSwitchFromRow(res[2].Rows[0])
				if err != nil {
					t.Fatal(err)
				}
				if ls.OtherConfig["subnet"] != "10.0.0.0/24" || ls.ExternalIDs["owner"] != "t" {
					t.Fatalf("switch = %+v", ls)
				}
			},
		},
		{
			name: "delete",
			ops:  []ovsdb.Operation{ovsdb.Delete(ovsdb.TableLogicalSwitch, ovsdb.Equal("name", "ls-once"))},
			check: func(t *testing.T, res []ovsdb.OperationResult) {
				if res[0].Count != 1 {
					t.Fatalf("deleted %d rows, want 1", res[0].Count)
				}
			},
		},
		{
			name:      "bad column names the failing operation",
			ops:       []ovsdb.Operation{ovsdb.Comment("first"), ovsdb.Insert(ovsdb.TableLogicalSwitch, map[string]any{"no_such_column": "x"}, "")},
			wantKind:  ovsdb.ErrorKind("unknown column"),
			wantIndex: 1,
			wantOp:    "insert",
		},
		{
			name:      "referential integrity",
			ops:       []ovsdb.Operation{ovsdb.Insert(ovsdb.TableLogicalSwitch, ovsdb.LogicalSwitch{Name: "ls-dangling", Ports: []ovsdb.UUID{"8e6e3a86-0000-4000-8000-000000000001"}}.Row(), "")},
			wantKind:  ovsdb.ErrReferentialIntegrity,
			wantIndex: 1,
			wantOp:    "commit",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Transact(ctx, ovsdb.NorthboundDB, tc.ops...)
			if tc.wantKind == "" {
				if err != nil {
					t.Fatalf("transact: %v", err)
				}
				if len(res) != len(tc.ops) {
					t.Fatalf("%d results for %d operations", len(res), len(tc.ops))
				}
				if tc.check != nil {
					tc.check(t, res)
				}
				return
			}
			var oe *ovsdb.OperationError
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v, want an *OperationError", err)
			}
			if !errors.Is(err, tc.wantKind) || oe.Index != tc.wantIndex || oe.Op != tc.wantOp {
				t.Fatalf("err = %v (kind %q index %d op %q), want kind %q index %d op %q",
					err, oe.Kind, oe.Index, oe.Op, tc.wantKind, tc.wantIndex, tc.wantOp)
			}
		})
	}
}

func TestRowDecoding(t *testing.T) {
	tests := []struct {
		name   string
		json   string
		decode func(ovsdb.Row) (any, error)
		want   string // JSON of the decoded value
	}{
		{"bare string as set", `{"c":"0a:00:00:00:00:01 10.0.0.1"}`, func(r ovsdb.Row) (any, error) { return r.StringSet("c") }, `["0a:00:00:00:00:01 10.0.0.1"]`},
		{"tagged set", `{"c":["set",["a","b"]]}`, func(r ovsdb.Row) (any, error) { return r.StringSet("c") }, `["a","b"]`},
		{"empty set", `{"c":["set",[]]}`, func(r ovsdb.Row) (any, error) { return r.StringSet("c") }, `[]`},
		{"bare uuid as set", `{"c":["uuid","u1"]}`, func(r ovsdb.Row) (any, error) { return r.UUIDSet("c") }, `[["uuid","u1"]]`},
		{"uuid set", `{"c":["set",[["uuid","u1"],["uuid","u2"]]]}`, func(r ovsdb.Row) (any, error) { return r.UUIDSet("c") }, `[["uuid","u1"],["uuid","u2"]]`},
		{"map", `{"c":["map",[["k","v"],["a","b"]]]}`, func(r ovsdb.Row) (any, error) { return r.StringMap("c") }, `{"a":"b","k":"v"}`},
		{"empty map", `{"c":["map",[]]}`, func(r ovsdb.Row) (any, error) { return r.StringMap("c") }, `{}`},
		{"optional bool absent", `{"c":["set",[]]}`, func(r ovsdb.Row) (any, error) { return r.OptionalBool("c") }, `null`},
		{"optional bool bare", `{"c":true}`, func(r ovsdb.Row) (any, error) { return r.OptionalBool("c") }, `true`},
		{"big integer exact", `{"c":9007199254740993}`, func(r ovsdb.Row) (any, error) { return r.Int("c") }, `9007199254740993`},
		{"missing column", `{}`, func(r ovsdb.Row) (any, error) { return r.StringSet("c") }, `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var row ovsdb.Row
			if err := json.Unmarshal([]byte(tc.json), &row); err != nil {
				t.Fatal(err)
			}
			v, err := tc.decode(row)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(v)
			if string(got) != tc.want {
				t.Fatalf("decoded %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("wrong type is an error naming the column", func(t *testing.T) {
		var row ovsdb.Row
		_ = json.Unmarshal([]byte(`{"c":["map",[]]}`), &row)
		if _, err := row.StringSet("c"); err == nil {
			t.Fatal("decoding a map as a set of strings succeeded")
		}
	})
}

// TestServerSendsBareValues checks against the real server that one-element
// sets come back as bare atoms and still decode.
func TestServerSendsBareValues(t *testing.T) {
	db, _ := startNB(t, "")
	c := dial(t, db.Endpoint(), ovsdb.Options{})
	ctx := testCtx(t)
	if _, err := c.Transact(ctx, ovsdb.NorthboundDB, switchOps("ls-bare", "bare-p1")...); err != nil {
		t.Fatal(err)
	}
	res, err := c.Transact(ctx, ovsdb.NorthboundDB,
		ovsdb.Select(ovsdb.TableLogicalSwitchPort, []ovsdb.Condition{ovsdb.Equal("name", "bare-p1")}),
		ovsdb.Select(ovsdb.TableLogicalSwitch, []ovsdb.Condition{ovsdb.Equal("name", "ls-bare")}))
	if err != nil {
		t.Fatal(err)
	}
	if _, bare := res[0].Rows[0]["addresses"].(string); !bare {
		t.Fatalf("server sent addresses as %#v; this test expects the bare form", res[0].Rows[0]["addresses"])
	}
	p, err := ovsdb.LogicalSwitchPortFromRow(res[0].Rows[0])
	if err != nil {
		t.Fatal(err)
	}
	ls, err := ovsdb.LogicalSwitchFromRow(res[1].Rows[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Addresses) != 1 || p.Addresses[0] != "0a:58:0a:00:00:0b 10.0.0.11" || len(ls.Ports) != 1 || ls.Ports[0] != p.UUID {
		t.Fatalf("port %+v switch %+v", p, ls)
	}
}

// updates collects monitor deliveries for assertions.
type updates chan ovsdb.MonitorUpdate

func (u updates) next(t *testing.T) ovsdb.MonitorUpdate {
	t.Helper()
	select {
	case m := <-u:
		return m
	case <-time.After(15 * time.Second):
		t.Fatal("no monitor update within 15 s")
		return ovsdb.MonitorUpdate{}
	}
}

func monitorSwitches(t *testing.T, c *ovsdb.Client) updates {
	t.Helper()
	ch := make(updates, 100)
	m, err := c.Monitor(testCtx(t), ovsdb.NorthboundDB, map[string][]string{
		ovsdb.TableLogicalSwitch:     {"name", "ports", "external_ids"},
		ovsdb.TableLogicalSwitchPort: nil,
	}, func(u ovsdb.MonitorUpdate) { ch <- u })
	if err != nil {
		t.Fatalf("monitor: %v", err)
	}
	t.Cleanup(func() { _ = m.Cancel(context.Background()) })
	return ch
}

func TestMonitor(t *testing.T) {
	db, _ := startNB(t, "")
	c := dial(t, db.Endpoint(), ovsdb.Options{})
	ctx := testCtx(t)
	res, err := c.Transact(ctx, ovsdb.NorthboundDB, switchOps("ls-before", "before-p1")...)
	if err != nil {
		t.Fatal(err)
	}
	existing := res[0].UUID
	ch := monitorSwitches(t, c)

	initial := ch.next(t)
	if !initial.Initial || initial.Tables[ovsdb.TableLogicalSwitch][existing].New == nil || len(initial.Tables[ovsdb.TableLogicalSwitchPort]) != 1 {
		t.Fatalf("initial = %+v, want the existing switch and port", initial)
	}

	steps := []struct {
		name  string
		ops   []ovsdb.Operation
		check func(t *testing.T, u ovsdb.MonitorUpdate)
	}{
		{
			name: "insert",
			ops:  switchOps("ls-new", "new-p1"),
			check: func(t *testing.T, u ovsdb.MonitorUpdate) {
				if len(u.Tables[ovsdb.TableLogicalSwitch]) != 1 || len(u.Tables[ovsdb.TableLogicalSwitchPort]) != 1 {
					t.Fatalf("update = %+v, want one switch and one port", u)
				}
				for _, ru := range u.Tables[ovsdb.TableLogicalSwitch] {
					ls, err := ovsdb.LogicalSwitchFromRow(ru.New)
					if ru.Old != nil || err != nil || ls.Name != "ls-new" || len(ls.Ports) != 1 {
						t.Fatalf("insert update %+v (%v)", ru, err)
					}
				}
			},
		},
		{
			name: "modify",
			ops: []ovsdb.Operation{ovsdb.Update(ovsdb.TableLogicalSwitch, []ovsdb.Condition{ovsdb.Equal("_uuid", existing)},
				map[string]any{"name": "ls-renamed"})},
			check: func(t *testing.T, u ovsdb.MonitorUpdate) {
				ru := u.Tables[ovsdb.TableLogicalSwitch][existing]
				oldName, _ := ru.Old.String("name")
				newName, _ := ru.New.String("name")
				if oldName != "ls-before" || newName != "ls-renamed" {
					t.Fatalf("modify update %+v", ru)
				}
				if _, ok := ru.Old["ports"]; ok {
					t.Fatalf("old carries unchanged column ports: %+v", ru.Old)
				}
			},
		},
		{
			name: "delete",
			ops:  []ovsdb.Operation{ovsdb.Delete(ovsdb.TableLogicalSwitch, ovsdb.Equal("_uuid", existing))},
			check: func(t *testing.T, u ovsdb.MonitorUpdate) {
				ru := u.Tables[ovsdb.TableLogicalSwitch][existing]
				if ru.Old == nil || ru.New != nil {
					t.Fatalf("delete update %+v", ru)
				}
				// The port lost its only reference and is garbage-collected.
				if len(u.Tables[ovsdb.TableLogicalSwitchPort]) != 1 {
					t.Fatalf("delete update %+v, want the orphaned port removed too", u)
				}
			},
		},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if _, err := c.Transact(ctx, ovsdb.NorthboundDB, step.ops...); err != nil {
				t.Fatal(err)
			}
			u := ch.next(t)
			if u.Initial {
				t.Fatal("got an initial snapshot, want a change")
			}
			step.check(t, u)
		})
	}
}

func TestReconnectReestablishesMonitor(t *testing.T) {
	db, cfg := startNB(t, "")
	c := dial(t, db.Endpoint(), ovsdb.Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	ctx := testCtx(t)
	if _, err := c.Transact(ctx, ovsdb.NorthboundDB, switchOps("ls-old", "old-p1")...); err != nil {
		t.Fatal(err)
	}
	ch := monitorSwitches(t, c)
	if u := ch.next(t); len(u.Tables[ovsdb.TableLogicalSwitch]) != 1 {
		t.Fatalf("initial = %+v, want one switch", u)
	}

	// Crash the server and bring it back with an empty database: the
	// client must deliver the new, empty state, not keep the old one.
	if err := db.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.Dir, "nb.db")); err != nil {
		t.Fatal(err)
	}
	db2, err := ovnstack.StartDatabase(ctx, cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = db2.Stop(context.Background()) })

	u := ch.next(t)
	if !u.Initial || len(u.Tables[ovsdb.TableLogicalSwitch]) != 0 {
		t.Fatalf("after restart got %+v, want an empty initial snapshot", u)
	}
	if c.Reconnects() != 1 {
		t.Fatalf("Reconnects = %d, want 1", c.Reconnects())
	}
	if _, err := c.Transact(ctx, ovsdb.NorthboundDB, switchOps("ls-after", "after-p1")...); err != nil {
		t.Fatal(err)
	}
	if u := ch.next(t); u.Initial || len(u.Tables[ovsdb.TableLogicalSwitch]) != 1 {
		t.Fatalf("update after reconnect = %+v, want the new switch", u)
	}
}

func TestCallEndsWithContext(t *testing.T) {
	db, _ := startNB(t, "")
	c := dial(t, db.Endpoint(), ovsdb.Options{})

	// A server-side wait for a switch that never appears holds the answer
	// for 10 s; the call must return when its context ends instead.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Transact(ctx, ovsdb.NorthboundDB, ovsdb.Wait(ovsdb.TableLogicalSwitch, 10000,
		[]ovsdb.Condition{ovsdb.Equal("name", "never")}, []string{"name"}, "!=", nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("call returned after %s, want about 200 ms", d)
	}
	// The connection is still good for later calls.
	if err := c.Echo(testCtx(t)); err != nil {
		t.Fatalf("echo after a cancelled call: %v", err)
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestServerEchoAnswered idles over TCP past two of the server's 5 s
// inactivity probes with our own probes off: the connection survives only
// if the client answers the server's echo requests.
func TestServerEchoAnswered(t *testing.T) {
	t.Parallel()
	db, _ := startNB(t, freeLoopbackAddr(t))
	c := dial(t, db.TCPEndpoint(), ovsdb.Options{InactivityProbe: -1, NoReconnect: true})
	ctx := testCtx(t)
	if err := c.Echo(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-time.After(11 * time.Second): // the property under test is idle time itself
	case <-ctx.Done():
	}
	if err := c.Echo(ctx); err != nil {
		t.Fatalf("connection did not survive 11 s idle: %v", err)
	}
}

// blackholeProxy forwards TCP to a backend until freeze, after which the
// connections open at that moment silently swallow everything.
type blackholeProxy struct {
	l       net.Listener
	backend string
	mu      sync.Mutex
	frozen  []*atomic.Bool
	wg      sync.WaitGroup
}

func startProxy(t *testing.T, backend string) *blackholeProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{l: l, backend: backend}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { _ = l.Close(); p.wg.Wait() })
	return p
}

func (p *blackholeProxy) serve() {
	defer p.wg.Done()
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = in.Close()
			continue
		}
		frozen := new(atomic.Bool)
		p.mu.Lock()
		p.frozen = append(p.frozen, frozen)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			defer dst.Close()
			defer src.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if err != nil {
					return
				}
				if frozen.Load() {
					continue
				}
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
		}
		p.wg.Add(2)
		go pipe(out, in)
		go pipe(in, out)
	}
}

func (p *blackholeProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.frozen {
		f.Store(true)
	}
}

func (p *blackholeProxy) endpoint() string { return "tcp:" + p.l.Addr().String() }

// TestDeadConnectionDropped: when the peer stops answering without closing
// the connection, our own inactivity probe drops it and the client
// reconnects.
func TestDeadConnectionDropped(t *testing.T) {
	t.Parallel()
	db, _ := startNB(t, freeLoopbackAddr(t))
	proxy := startProxy(t, db.TCPEndpoint()[len("tcp:"):])
	c := dial(t, proxy.endpoint(), ovsdb.Options{InactivityProbe: 300 * time.Millisecond, MinBackoff: 20 * time.Millisecond})
	ctx := testCtx(t)
	if err := c.Echo(ctx); err != nil {
		t.Fatal(err)
	}
	proxy.freeze()
	start := time.Now()
	deadline := time.Now().Add(10 * time.Second)
	for c.Reconnects() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("dead connection not replaced within 10 s")
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by deadline
	}
	t.Logf("dead connection detected and replaced after %s (probe 300 ms)", time.Since(start))
	if err := c.Echo(ctx); err != nil {
		t.Fatalf("echo on the new connection: %v", err)
	}
}

// TestBarrierSeesOwnWrite checks the read-your-write recipe: after a
// transaction, Echo then Barrier, the monitor's handler has applied it.
func TestBarrierSeesOwnWrite(t *testing.T) {
	db, _ := startNB(t, "")
	c := dial(t, db.Endpoint(), ovsdb.Options{})
	ctx := testCtx(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	mon, err := c.Monitor(ctx, ovsdb.NorthboundDB, map[string][]string{ovsdb.TableLogicalSwitch: {"name"}}, func(u ovsdb.MonitorUpdate) {
		mu.Lock()
		defer mu.Unlock()
		for _, ru := range u.Tables[ovsdb.TableLogicalSwitch] {
			if name, _ := ru.New.String("name"); name != "" {
				seen[name] = true
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		name := fmt.Sprintf("ls%d", i)
		if _, err := c.Transact(ctx, ovsdb.NorthboundDB, ovsdb.Insert(ovsdb.TableLogicalSwitch, map[string]any{"name": name}, "")); err != nil {
			t.Fatal(err)
		}
		if err := c.Echo(ctx); err != nil {
			t.Fatal(err)
		}
		if err := mon.Barrier(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		ok := seen[name]
		mu.Unlock()
		if !ok {
			t.Fatalf("after Echo and Barrier the handler has not seen %s", name)
		}
	}
}
