// Package reconcile runs level-triggered controllers: a watch feeds object
// keys into a de-duplicating, rate-limited work queue, and N workers call a
// Reconciler for each key. Reconcilers compare desired and observed state
// and act; they are safe to run again for the same key at any time.
package reconcile

// Request names the object to reconcile.
type Request struct {
	Project string // "" for cluster-scoped objects
	Name    string
}

func (r Request) String() string {
	if r.Project == "" {
		return r.Name
	}
	return r.Project + "/" + r.Name
}
