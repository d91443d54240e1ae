package ovnstack

import "sync"

// failures collects unexpected daemon exits for a stack: the first one is
// kept for Err, and each is offered on a buffered channel without ever
// blocking the reporting goroutine.
type failures struct {
	ch    chan error
	mu    sync.Mutex
	first error
}

func newFailures() *failures { return &failures{ch: make(chan error, 16)} }

func (f *failures) report(_ string, err error) {
	f.mu.Lock()
	if f.first == nil {
		f.first = err
	}
	f.mu.Unlock()
	select {
	case f.ch <- err:
	default: // nobody is reading; Err still has the first failure
	}
}

func (f *failures) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}
