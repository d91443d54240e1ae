package workloads

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/store"
)

// Services gives each Service its cluster IP and keeps the Endpoints of a
// service with a selector equal to its pods' addresses.
//
// Cluster IPs are allocated here, not at creation: the API's generic
// create path has no allocation hook, and a controller can allocate safely
// because one instance acts at a time (its lease) and allocations are
// serialised within it. The allocation is recorded in status.clusterIP,
// which only controllers write; spec.clusterIP is held to that record, so a
// user's change to it is undone — the address is immutable in effect. A
// user may ask for a free address inside the service network at creation;
// one outside it or taken leaves the service with condition
// ClusterIPAllocated=False.
type Services struct {
	deps
	alloc sync.Mutex // serialises list-then-claim of cluster IPs
}

// managedByLabel marks the Endpoints the service controller writes: only
// those are deleted when their service is.
const (
	managedByLabel    = "slipway.io/managed-by"
	managedByServices = "services-controller"
)

func ignoreNotFound(err error) error {
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	return err
}

// NewServices returns the service and endpoints reconciler.
func NewServices(d Deps) reconcile.Reconciler { return &Services{deps: newDeps(d)} }

// Reconcile implements reconcile.Reconciler.
func (c *Services) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, err := c.Service.Get(ctx, c.services, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		// The endpoints this controller wrote go with their service; a
		// user's (perhaps written before the service) stay.
		ep, err := c.Service.Get(ctx, c.endpoints, req.Name)
		if err != nil || ep.Metadata.Labels[managedByLabel] != managedByServices {
			return reconcile.Result{}, ignoreNotFound(err)
		}
		if _, _, err := c.Service.Delete(ctx, c.endpoints, req.Name, ep.Metadata.ResourceVersion); err != nil {
			return reconcile.Result{}, ignoreNotFound(fmt.Errorf("delete endpoints of deleted service %q: %w", req.Name, err))
		}
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	svc, err := decodeAs[api.Service](obj)
	if err != nil {
		return reconcile.Result{}, err
	}
	if svc.Metadata.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	if err := c.ensureClusterIP(ctx, obj, svc); err != nil {
		return reconcile.Result{}, err
	}
	if len(svc.Spec.Selector) == 0 {
		return reconcile.Result{}, nil // its endpoints are the user's
	}
	return reconcile.Result{}, c.syncEndpoints(ctx, svc)
}

// ensureClusterIP allocates, records and restores the service's address.
func (c *Services) ensureClusterIP(ctx context.Context, obj *api.Object, svc *api.Service) error {
	recorded := svc.Status.ClusterIP
	if recorded == "" {
		ip, err := c.allocate(ctx, obj, svc)
		if err != nil {
			return err
		}
		if ip == "" {
			return nil // refused: the condition says why
		}
		recorded = ip
		if obj, err = c.Service.Get(ctx, c.services, svc.Metadata.Name); err != nil {
			return err
		}
		if svc, err = decodeAs[api.Service](obj); err != nil {
			return err
		}
	}
	if svc.Spec.ClusterIP == recorded {
		return nil
	}
	svc.Spec.ClusterIP = recorded
	next, err := encode(svc)
	if err != nil {
		return err
	}
	if _, err := c.Service.Update(ctx, c.services, svc.Metadata.Name, next); err != nil {
		return fmt.Errorf("set cluster IP of service %q: %w", svc.Metadata.Name, err)
	}
	return nil
}

// allocate claims an address by recording it in the service's status and
// returns it, or "" when the address the user asked for cannot be had.
func (c *Services) allocate(ctx context.Context, obj *api.Object, svc *api.Service) (string, error) {
	c.alloc.Lock()
	defer c.alloc.Unlock()
	list, err := c.Service.List(store.WithProject(ctx, store.AllProjects), c.services, api.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list services: %w", err)
	}
	used := map[netip.Addr]bool{}
	for _, o := range list.Items {
		if o.Metadata.UID == svc.Metadata.UID {
			continue
		}
		other, err := decodeAs[api.Service](o)
		if err != nil {
			continue
		}
		if ip, err := netip.ParseAddr(other.Status.ClusterIP); err == nil {
			used[ip] = true
		}
	}
	prefix := c.ServiceCIDR.Masked()
	var ip netip.Addr
	status := svc.Status
	if want := svc.Spec.ClusterIP; want != "" {
		addr, err := netip.ParseAddr(want)
		switch {
		case err != nil || !prefix.Contains(addr) || addr == prefix.Addr() || addr == lastAddr(prefix):
			return "", c.refuse(ctx, obj, svc, fmt.Sprintf("spec.clusterIP %s is not an address of the service network %s", want, prefix))
		case used[addr]:
			return "", c.refuse(ctx, obj, svc, fmt.Sprintf("spec.clusterIP %s is already allocated to another service", want))
		}
		ip = addr
	} else if ip, err = freeAddr(prefix, used); err != nil {
		return "", c.refuse(ctx, obj, svc, err.Error())
	}
	status.ClusterIP = ip.String()
	now := c.Now().UTC().Truncate(time.Second)
	status.Conditions = []api.Condition{{Type: api.ServiceClusterIPAllocated, Status: api.ConditionTrue, LastTransitionTime: &now}}
	if err := writeStatus(ctx, c.Service, c.services, obj, status); err != nil {
		return "", err
	}
	c.Logger.InfoContext(ctx, "allocated cluster IP", "project", svc.Metadata.Project, "kind", "Service", "name", svc.Metadata.Name, "ip", status.ClusterIP)
	return status.ClusterIP, nil
}

func (c *Services) refuse(ctx context.Context, obj *api.Object, svc *api.Service, msg string) error {
	st := svc.Status
	for _, cond := range st.Conditions {
		if cond.Type == api.ServiceClusterIPAllocated && cond.Status == api.ConditionFalse && cond.Message == msg {
			return nil
		}
	}
	now := c.Now().UTC().Truncate(time.Second)
	st.Conditions = []api.Condition{{Type: api.ServiceClusterIPAllocated, Status: api.ConditionFalse,
		Reason: api.ReasonClusterIPUnavailable, Message: msg, LastTransitionTime: &now}}
	return writeStatus(ctx, c.Service, c.services, obj, st)
}

// freeAddr picks a free host address of prefix, starting at a random one so
// concurrent allocators rarely meet.
func freeAddr(prefix netip.Prefix, used map[netip.Addr]bool) (netip.Addr, error) {
	bits := prefix.Addr().BitLen() - prefix.Bits()
	if bits < 2 || bits > 24 {
		return netip.Addr{}, fmt.Errorf("service network %s must have between 2 and 24 host bits", prefix)
	}
	size := 1 << bits
	base := prefix.Addr().As4()
	start := rand.IntN(size)
	for i := range size {
		off := (start + i) % size
		if off == 0 || off == size-1 {
			continue // network and broadcast addresses
		}
		b := base
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + uint32(off)
		ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if !used[ip] {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("the service network %s is full", prefix)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// syncEndpoints writes the service's Endpoints from its pods: ready pods
// in addresses, others that are not finished in notReadyAddresses, grouped
// by the ports their target ports resolve to.
func (c *Services) syncEndpoints(ctx context.Context, svc *api.Service) error {
	list, err := c.Service.List(ctx, c.pods, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods for service %q: %w", svc.Metadata.Name, err)
	}
	subsets := map[string]*api.EndpointSubset{}
	for _, obj := range list.Items {
		if !api.SelectorMatches(svc.Spec.Selector, obj.Metadata.Labels) || obj.Metadata.DeletionTimestamp != nil {
			continue
		}
		pod, err := decodeAs[api.Pod](obj)
		if err != nil {
			return err
		}
		if pod.Status.PodIP == "" || podTerminal(pod) {
			continue
		}
		ports := resolvePorts(svc, pod)
		if len(ports) == 0 {
			continue
		}
		key := portsKey(ports)
		sub := subsets[key]
		if sub == nil {
			sub = &api.EndpointSubset{Ports: ports}
			subsets[key] = sub
		}
		addr := api.EndpointAddress{IP: pod.Status.PodIP, NodeName: pod.Spec.NodeName,
			TargetRef: &api.ObjectReference{Kind: "Pod", Name: pod.Metadata.Name, Project: pod.Metadata.Project, UID: pod.Metadata.UID}}
		if _, ready := podReadySince(pod); ready {
			sub.Addresses = append(sub.Addresses, addr)
		} else {
			sub.NotReadyAddresses = append(sub.NotReadyAddresses, addr)
		}
	}
	spec := api.EndpointsSpec{}
	for _, key := range slices.Sorted(maps.Keys(subsets)) {
		sub := subsets[key]
		byIP := func(a, b api.EndpointAddress) int {
			return strings.Compare(a.IP+a.TargetRef.Name, b.IP+b.TargetRef.Name)
		}
		slices.SortFunc(sub.Addresses, byIP)
		slices.SortFunc(sub.NotReadyAddresses, byIP)
		spec.Subsets = append(spec.Subsets, *sub)
	}
	labels := maps.Clone(svc.Metadata.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[managedByLabel] = managedByServices
	ep := &api.Endpoints{Kind: "Endpoints", APIVersion: api.Version,
		Metadata: api.ObjectMeta{Name: svc.Metadata.Name, Labels: labels}, Spec: spec}
	want, err := encode(ep)
	if err != nil {
		return err
	}
	current, err := c.Service.Get(ctx, c.endpoints, svc.Metadata.Name)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		if _, err := c.Service.Create(ctx, c.endpoints, want); err != nil {
			return fmt.Errorf("create endpoints of service %q: %w", svc.Metadata.Name, err)
		}
		return nil
	case err != nil:
		return err
	}
	if sameJSON(current.Spec, want.Spec) && current.Metadata.Labels[managedByLabel] == managedByServices {
		return nil
	}
	next := *current
	next.Spec = want.Spec
	next.Metadata.Labels = maps.Clone(current.Metadata.Labels)
	if next.Metadata.Labels == nil {
		next.Metadata.Labels = map[string]string{}
	}
	next.Metadata.Labels[managedByLabel] = managedByServices
	if _, err := c.Service.Update(ctx, c.endpoints, svc.Metadata.Name, &next); err != nil {
		return fmt.Errorf("update endpoints of service %q: %w", svc.Metadata.Name, err)
	}
	return nil
}

// resolvePorts maps the service's ports to the pod's: a numeric target
// port as is, a named one through the pod's container ports (a pod without
// that name is not a backend of that port).
func resolvePorts(svc *api.Service, pod *api.Pod) []api.EndpointPort {
	var out []api.EndpointPort
	for _, sp := range svc.Spec.Ports {
		port := sp.Port
		if tp := sp.TargetPort; tp != nil {
			if tp.IsStr {
				port = 0
				for _, ctr := range pod.Spec.Containers {
					for _, cp := range ctr.Ports {
						if cp.Name == tp.StrVal && protocolOf(cp.Protocol) == protocolOf(sp.Protocol) {
							port = cp.ContainerPort
						}
					}
				}
				if port == 0 {
					continue
				}
			} else {
				port = tp.IntVal
			}
		}
		out = append(out, api.EndpointPort{Name: sp.Name, Port: port, Protocol: protocolOf(sp.Protocol)})
	}
	return out
}

func protocolOf(p string) string {
	if p == "" {
		return "TCP"
	}
	return p
}

func portsKey(ports []api.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%s=%d/%s,", p.Name, p.Port, p.Protocol)
	}
	return b.String()
}
