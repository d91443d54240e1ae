package haproxycfg

import (
	"math"
	"net/netip"
	"slices"
	"strconv"

	"github.com/slipway/slipway/router/route"
)

// MinSlots is the fewest server slots a route's service gets. Slots are
// pre-allocated so that endpoint changes go through the runtime API; a
// service that outgrows its slots doubles them, which needs a reload.
const MinSlots = 4

// Slot is one pre-allocated server line of an HAProxy backend.
type Slot struct {
	// Name is the HAProxy server name, "<service>_<n>": service names are
	// DNS labels, so the underscore keeps it unambiguous.
	Name string
	// Service is the route backend (service) the slot belongs to.
	Service string
	// Addr is the endpoint in the slot; the zero value means unused, and
	// the server is rendered disabled (in maintenance).
	Addr netip.AddrPort
	// Weight is the HAProxy server weight, 0..256.
	Weight int
}

// InUse reports whether the slot holds an endpoint.
func (s Slot) InUse() bool { return s.Addr.IsValid() }

// Table maps each HAProxy backend name to its slots, in server order.
type Table map[string][]Slot

// Equal reports whether both tables hold the same slots.
func (t Table) Equal(o Table) bool {
	if len(t) != len(o) {
		return false
	}
	for name, slots := range t {
		other, ok := o[name]
		if !ok || !slices.Equal(slots, other) {
			return false
		}
	}
	return true
}

// assignSlots places r's endpoints into slots. An endpoint keeps the slot it
// had in previous (so runtime updates touch only what changed); new
// endpoints take the lowest free slots; a service keeps its slot count
// unless its endpoints outgrow it, then the count doubles until they fit.
func assignSlots(r *route.Route, previous []Slot) []Slot {
	var out []Slot
	type group struct {
		start, n int
		weight   int
	}
	groups := make([]group, 0, len(r.Backends))
	for _, b := range r.Backends {
		addrs := endpointAddrs(b.Endpoints)
		var prev []Slot
		for _, s := range previous {
			if s.Service == b.Name {
				prev = append(prev, s)
			}
		}
		capacity := max(MinSlots, len(prev))
		for capacity < len(addrs) {
			capacity *= 2
		}
		slots := make([]Slot, capacity)
		for i := range slots {
			slots[i] = Slot{Name: b.Name + "_" + strconv.Itoa(i+1), Service: b.Name}
		}
		placed := map[netip.AddrPort]bool{}
		for i, s := range prev {
			if i < capacity && s.InUse() && slices.Contains(addrs, s.Addr) {
				slots[i].Addr = s.Addr
				placed[s.Addr] = true
			}
		}
		free := 0
		for _, a := range addrs {
			if placed[a] {
				continue
			}
			for slots[free].InUse() {
				free++
			}
			slots[free].Addr = a
		}
		groups = append(groups, group{start: len(out), n: len(addrs), weight: b.EffectiveWeight()})
		out = append(out, slots...)
	}
	// A service's weight is shared by its endpoints; the largest share maps
	// to 256, HAProxy's largest server weight, so the ratios survive rounding.
	largest := 0.0
	for _, g := range groups {
		if g.n > 0 {
			largest = max(largest, float64(g.weight)/float64(g.n))
		}
	}
	for _, g := range groups {
		w := 0
		if g.n > 0 && g.weight > 0 {
			w = max(1, int(math.Round(float64(g.weight)/float64(g.n)/largest*256)))
		}
		for i := g.start; i < len(out) && out[i].Service == out[g.start].Service; i++ {
			if out[i].InUse() {
				out[i].Weight = w
			}
		}
	}
	return out
}

// endpointAddrs returns the distinct endpoint addresses, sorted.
func endpointAddrs(eps []route.Endpoint) []netip.AddrPort {
	addrs := make([]netip.AddrPort, 0, len(eps))
	for _, e := range eps {
		if a, err := e.AddrPort(); err == nil {
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return slices.Compact(addrs)
}
