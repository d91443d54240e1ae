package scheduler

import (
	"encoding/json"
	"maps"
	"math"
	"time"
)

// ReservationsAnnotation on a node lists the pods schedulers are binding
// there, by uid. It makes a binding an optimistic commit safe across
// scheduler instances (Omega's per-machine sequence number): before
// binding, a scheduler adds its pods to the list with a compare-and-swap
// on the node's resourceVersion, after checking them against the pods
// bound there and the reservations already listed. Two schedulers that
// both chose the node for pods that do not fit together cannot both
// succeed; the loser re-reads the node and retries. Entries are pruned
// once the pod is seen bound (it then counts as a bound pod), bound
// elsewhere, deleted, or when the reservation expires.
const ReservationsAnnotation = "slipway.io/scheduler-reservations"

// reservationTTL is how long an entry whose pod is not bound holds its
// space (a scheduler died between reserving and binding). Bindings give up
// well before it.
const reservationTTL = 2 * time.Minute

// bindTimeout bounds one pod's binding writes.
const bindTimeout = 30 * time.Second

// reservation is one entry of the annotation; keys are pod uids.
type reservation struct {
	Pod   string     `json:"pod"` // project/name, for people reading it
	CPU   int64      `json:"cpu,omitempty"`
	Mem   int64      `json:"mem,omitempty"`
	Ports []hostPort `json:"ports,omitempty"`
	At    int64      `json:"at"` // unix seconds
}

func parseReservations(annotations map[string]string) map[string]reservation {
	v := annotations[ReservationsAnnotation]
	if v == "" {
		return map[string]reservation{}
	}
	out := map[string]reservation{}
	if json.Unmarshal([]byte(v), &out) != nil {
		return map[string]reservation{}
	}
	return out
}

func encodeReservations(annotations map[string]string, r map[string]reservation) map[string]string {
	out := maps.Clone(annotations)
	if out == nil {
		out = map[string]string{}
	}
	if len(r) == 0 {
		delete(out, ReservationsAnnotation)
		return out
	}
	b, _ := json.Marshal(r)
	out[ReservationsAnnotation] = string(b)
	return out
}

func reservationOf(pi *PodInfo, now time.Time) reservation {
	return reservation{Pod: pi.Key.String(), CPU: pi.Requests.MilliCPU, Mem: pi.Requests.Memory, Ports: pi.HostPorts, At: now.Unix()}
}

// podInfo stands a reservation in for a pod this scheduler does not know:
// it holds its space and is never preempted.
func (r reservation) podInfo(uid string) *PodInfo {
	req := Resources{MilliCPU: r.CPU, Memory: r.Mem, Pods: 1}
	return &PodInfo{UID: uid, Priority: math.MaxInt32, Requests: req, scoreRequests: req, HostPorts: r.Ports}
}

func (r reservation) expired(now time.Time) bool {
	return now.Sub(time.Unix(r.At, 0)) > reservationTTL
}
