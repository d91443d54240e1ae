// Package pinnedfork starts child processes from one OS thread that lives
// as long as the process. Linux delivers a child's Pdeathsig when the
// *thread* that forked it exits, not the process (golang/go#27505), and Go
// ends any thread whose goroutine exits while locked to it — as code that
// switches network namespaces does (node/netns). A daemon forked from such
// a thread would be killed at a random later moment; forking every
// Pdeathsig child from one pinned thread avoids that.
package pinnedfork

import (
	"os/exec"
	"runtime"
	"sync"
)

type request struct {
	cmd  *exec.Cmd
	done chan error
}

// The forking thread is process-wide by nature: it must outlive every
// child it starts, so it is never stopped.
var (
	once     sync.Once
	requests chan request
)

// Start runs cmd.Start on the pinned thread.
func Start(cmd *exec.Cmd) error {
	once.Do(func() {
		requests = make(chan request)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for r := range requests {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	requests <- request{cmd: cmd, done: done}
	return <-done
}
