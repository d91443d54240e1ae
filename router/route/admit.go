package route

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrHostTaken classes a route whose host (and path) another route holds.
var ErrHostTaken = errors.New("host already claimed")

// Rejection names a route left out of the configuration and why.
type Rejection struct {
	Project, Name string
	Err           error
}

// Admit validates routes and settles claims, returning the routes to serve
// sorted by project and name, and the ones rejected. The rules, as in
// OpenShift: a host belongs to one project, the one whose route is oldest
// (Created; within one second an Incumbent first, then project and name
// break ties); within it each host+path is
// served by one route; a passthrough route takes its host whole.
func Admit(routes []Route) (admitted []Route, rejected []Rejection) {
	order := make([]int, len(routes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ra, rb := &routes[a], &routes[b]
		if c := ra.Created.Compare(rb.Created); c != 0 {
			return c
		}
		if ra.Incumbent != rb.Incumbent {
			if ra.Incumbent {
				return -1
			}
			return 1
		}
		if c := strings.Compare(ra.Project, rb.Project); c != 0 {
			return c
		}
		return strings.Compare(ra.Name, rb.Name)
	})
	type hostClaim struct {
		project     string
		passthrough string // the passthrough route holding the host whole, if any
		paths       map[string]string
	}
	hosts := map[string]*hostClaim{}
	names := map[string]bool{}
	reject := func(r *Route, err error) {
		rejected = append(rejected, Rejection{Project: r.Project, Name: r.Name, Err: err})
	}
	for _, i := range order {
		r := &routes[i]
		if err := Validate(r); err != nil {
			reject(r, err)
			continue
		}
		if names[r.Key()] {
			reject(r, fmt.Errorf("route %s: %w: listed twice", r.Key(), ErrInvalid))
			continue
		}
		names[r.Key()] = true
		c := hosts[r.Host]
		switch {
		case c == nil:
			c = &hostClaim{project: r.Project, paths: map[string]string{}}
			hosts[r.Host] = c
		case c.project != r.Project:
			reject(r, fmt.Errorf("route %s: %w: host %s belongs to project %s", r.Key(), ErrHostTaken, r.Host, c.project))
			continue
		case c.passthrough != "":
			reject(r, fmt.Errorf("route %s: %w: host %s is passed through by route %s", r.Key(), ErrHostTaken, r.Host, c.passthrough))
			continue
		case r.Termination() == TerminationPassthrough:
			reject(r, fmt.Errorf("route %s: %w: a passthrough route needs host %s to itself", r.Key(), ErrHostTaken, r.Host))
			continue
		}
		if owner, ok := c.paths[r.Path]; ok {
			reject(r, fmt.Errorf("route %s: %w: host %s path %q is served by route %s", r.Key(), ErrHostTaken, r.Host, r.Path, owner))
			continue
		}
		c.paths[r.Path] = r.Key()
		if r.Termination() == TerminationPassthrough {
			c.passthrough = r.Key()
		}
		admitted = append(admitted, *r)
	}
	slices.SortFunc(admitted, func(a, b Route) int { return strings.Compare(a.Key(), b.Key()) })
	slices.SortFunc(rejected, func(a, b Rejection) int {
		return strings.Compare(a.Project+"/"+a.Name, b.Project+"/"+b.Name)
	})
	return admitted, rejected
}
