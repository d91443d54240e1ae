package ovnstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/slipway/slipway/sdn/ovsdb"
)

// UnderlayBridge is the bridge that owns ChassisConfig.EncapInterface and
// carries the tunnel endpoint address (the br-phy of FIELD-NOTES 2.4).
const UnderlayBridge = "slw-phy"

// underlayDeviceWait bounds the wait for ovs-vswitchd to create the
// underlay bridge's device.
const underlayDeviceWait = 10 * time.Second

// parseEncapIP splits ChassisConfig.EncapIP ("ADDR" or "ADDR/LEN") into the
// address OVN advertises and, when given, the prefix for the interface.
func parseEncapIP(s string) (netip.Addr, netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, netip.Prefix{}, fmt.Errorf("EncapIP %q: %w", s, err)
		}
		return p.Addr(), p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, netip.Prefix{}, fmt.Errorf("EncapIP %q: %w", s, err)
	}
	return a, netip.Prefix{}, nil
}

// ensureUnderlay sets up userspace tunnelling (FIELD-NOTES 2.4): the
// netdev bridge UnderlayBridge owning EncapInterface, with the encap
// address on the bridge's device, up. Every step is idempotent; it runs on
// every start and vswitchd restart, since a restarted ovs-vswitchd
// recreates the bridge from conf.db without the address. Without
// EncapInterface it does nothing.
func (ch *Chassis) ensureUnderlay(ctx context.Context) error {
	uplink := ch.cfg.EncapInterface
	if uplink == "" {
		return nil
	}
	if err := ch.ip(ctx, "link", "show", uplink); err != nil {
		return fmt.Errorf("underlay: encap interface %s: %w", uplink, err)
	}
	client, err := ovsdb.Dial(ctx, ch.db.Endpoint(), ovsdb.Options{NoReconnect: true})
	if err != nil {
		return fmt.Errorf("underlay: %w", err)
	}
	defer client.Close()
	named := func(name string) []ovsdb.Condition { return []ovsdb.Condition{ovsdb.Equal("name", name)} }
	// ovs-vsctl --may-exist add-br slw-phy -- set bridge slw-phy datapath_type=…
	_, err = client.Transact(ctx, VSwitchDB,
		ovsdb.Wait("Bridge", 0, named(UnderlayBridge), []string{"name"}, "==", nil),
		ovsdb.Insert("Interface", map[string]any{"name": UnderlayBridge, "type": "internal"}, "brif"),
		ovsdb.Insert("Port", map[string]any{"name": UnderlayBridge, "interfaces": ovsdb.Set[ovsdb.NamedUUID]{"brif"}}, "brport"),
		ovsdb.Insert("Bridge", map[string]any{"name": UnderlayBridge, "datapath_type": ch.cfg.DatapathType,
			"ports": ovsdb.Set[ovsdb.NamedUUID]{"brport"}}, "br"),
		ovsdb.Mutate("Open_vSwitch", nil, ovsdb.Mutation{Column: "bridges", Mutator: "insert", Value: ovsdb.Set[ovsdb.NamedUUID]{"br"}}),
		ovsdb.Comment("slipway: create "+UnderlayBridge))
	if errors.Is(err, ovsdb.ErrTimedOut) {
		_, err = client.Transact(ctx, VSwitchDB, ovsdb.Update("Bridge", named(UnderlayBridge),
			map[string]any{"datapath_type": ch.cfg.DatapathType}))
	}
	if err != nil {
		return fmt.Errorf("underlay: create %s: %w", UnderlayBridge, err)
	}
	// ovs-vsctl --may-exist add-port slw-phy UPLINK
	_, err = client.Transact(ctx, VSwitchDB,
		ovsdb.Wait("Port", 0, named(uplink), []string{"name"}, "==", nil),
		ovsdb.Insert("Interface", map[string]any{"name": uplink}, "upif"),
		ovsdb.Insert("Port", map[string]any{"name": uplink, "interfaces": ovsdb.Set[ovsdb.NamedUUID]{"upif"}}, "upport"),
		ovsdb.Mutate("Bridge", named(UnderlayBridge), ovsdb.Mutation{Column: "ports", Mutator: "insert", Value: ovsdb.Set[ovsdb.NamedUUID]{"upport"}}),
		ovsdb.Comment("slipway: add "+uplink+" to "+UnderlayBridge))
	if err != nil && !errors.Is(err, ovsdb.ErrTimedOut) {
		return fmt.Errorf("underlay: add %s to %s: %w", uplink, UnderlayBridge, err)
	}
	if err := ch.ip(ctx, "link", "set", uplink, "up"); err != nil {
		return fmt.Errorf("underlay: %w", err)
	}
	// ovs-vswitchd creates the bridge's device once it has read the change.
	waitCtx, cancel := context.WithTimeout(ctx, underlayDeviceWait)
	defer cancel()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		err := ch.ip(waitCtx, "link", "show", UnderlayBridge)
		if err == nil {
			break
		}
		select {
		case <-waitCtx.Done():
			return fmt.Errorf("underlay: ovs-vswitchd did not create the %s device within %s: %w", UnderlayBridge, underlayDeviceWait, err)
		case <-poll.C:
		}
	}
	_, prefix, _ := parseEncapIP(ch.cfg.EncapIP) // validated by StartChassis
	if err := ch.ip(ctx, "addr", "replace", prefix.String(), "dev", UnderlayBridge); err != nil {
		return fmt.Errorf("underlay: %w", err)
	}
	if err := ch.ip(ctx, "link", "set", UnderlayBridge, "up"); err != nil {
		return fmt.Errorf("underlay: %w", err)
	}
	ch.log.Info("ovnstack: underlay ready", "bridge", UnderlayBridge, "uplink", uplink, "address", prefix)
	return nil
}

// ip runs ip(8) in the chassis' network namespace, returning its output
// in the error.
func (ch *Chassis) ip(ctx context.Context, args ...string) error {
	if ch.cfg.NetNS != "" {
		args = append([]string{"-n", ch.cfg.NetNS}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
