package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/node/agent/execstream"
	"github.com/slipway/slipway/node/runtime"
)

// ExecContentType is the media type of an exec response body (frames of
// package execstream).
const ExecContentType = "application/vnd.slipway.exec-stream"

// Handler serves the endpoints the API server proxies to:
//
//	GET  /containerLogs/{project}/{pod}/{container}?follow=true&tailLines=N&previous=true
//	POST /exec/{project}/{pod}/{container}?command=ARG&command=ARG…   (body: stdin)
//	GET  /stats/summary                                               (api.NodeStats)
//
// Authentication and TLS are the caller's: wrap the handler.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{project}/{pod}/{container}", a.serveLogs)
	mux.HandleFunc("POST /exec/{project}/{pod}/{container}", a.serveExec)
	mux.HandleFunc("GET /stats/summary", a.serveStats)
	return mux
}

// findContainer resolves a pod's container on this node: through the pod
// cache, else the runtime's labels (a pod whose API object is gone).
func (a *Agent) lookupContainer(r *http.Request) (uid, name string, err error) {
	project, podName, name := r.PathValue("project"), r.PathValue("pod"), r.PathValue("container")
	if p := a.pods.byName(project, podName); p != nil {
		uid = p.Metadata.UID
	} else {
		pods, err := a.rt.ListPods(r.Context())
		if err != nil {
			return "", "", err
		}
		for _, p := range pods {
			if p.Project == project && p.Name == podName {
				uid = p.UID
			}
		}
	}
	if uid == "" {
		return "", "", fmt.Errorf("pod %s/%s does not run on node %s: %w", project, podName, a.cfg.NodeName, ErrContainerNotFound)
	}
	return uid, name, nil
}

func (a *Agent) containerState(r *http.Request, uid, name string) (runtime.ContainerStatus, error) {
	// A build's container runs for the whole build — fetching the source
	// before assemble starts, committing and pushing after it ends — so
	// its log is followed until the executor returns.
	a.mu.Lock()
	b := a.builds[uid]
	a.mu.Unlock()
	if b != nil {
		st := runtime.ContainerStatus{Name: name, State: runtime.StateRunning}
		select {
		case <-b.done:
			st.State = runtime.StateExited
		default:
		}
		return st, nil
	}
	rs, err := a.rt.PodStatus(r.Context(), uid)
	if err != nil {
		return runtime.ContainerStatus{}, err
	}
	rc := findContainer(&rs, name)
	if rc == nil {
		return runtime.ContainerStatus{}, fmt.Errorf("container %q: %w", name, ErrContainerNotFound)
	}
	return *rc, nil
}

// logGrowing reports whether a container's live log may still grow: its
// instance runs, or, for a build pod, its build runs or is still to start.
func (a *Agent) logGrowing(r *http.Request, uid, name string) (bool, error) {
	if growing, ok := a.buildLogGrowing(uid); ok {
		return growing, nil
	}
	st, err := a.containerState(r, uid, name)
	if err != nil {
		return false, err
	}
	return st.State == runtime.StateRunning, nil
}

// buildLogGrowing reports, for a build pod this agent runs, whether its
// log may still grow; ok is false for other pods. A build grows from the
// moment the pod is known until its executor returns: syncBuild creates
// the log, then registers the build, then starts the executor, and the
// build ends only once the executor has closed the log. A build pod that
// is not registered yet, neither finished nor deleted, is still to start
// (or to be reported failed: that registers it too). Without this, a
// follower that came before the registration found neither a build nor a
// container, read the log as a finished one and stopped at its first
// lines, or at none.
func (a *Agent) buildLogGrowing(uid string) (growing, ok bool) {
	a.mu.Lock()
	b := a.builds[uid]
	a.mu.Unlock()
	if b != nil {
		select {
		case <-b.done:
			return false, true
		default:
			return true, true
		}
	}
	if a.cfg.Builds == nil {
		return false, false
	}
	pod, _ := a.pods.get(uid)
	if pod == nil || !isBuildPod(pod) {
		return false, false
	}
	switch {
	case pod.Metadata.DeletionTimestamp != nil, pod.Status.Phase == api.PodSucceeded, pod.Status.Phase == api.PodFailed:
		return false, true
	}
	return true, true
}

func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrContainerNotFound), errors.Is(err, runtime.ErrNotFound), errors.Is(err, os.ErrNotExist):
		code = http.StatusNotFound
	case errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, errNotRunning):
		code = http.StatusConflict
	}
	http.Error(w, err.Error(), code)
}

var (
	errBadRequest = errors.New("bad request")
	errNotRunning = errors.New("container is not running")
)

// serveLogs serves the live log of the container's current instance (or,
// with previous=true, the last live log of the instance before): the
// whole file, its last tailLines lines, then with follow=true what is
// appended. Rotated copies (<name>.log.N, see logrotate.go) are not read,
// so after a rotation the log starts where the live file was truncated.
func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	uid, name, err := a.lookupContainer(r)
	if err != nil {
		httpError(w, err)
		return
	}
	q := r.URL.Query()
	follow, previous := q.Get("follow") == "true", q.Get("previous") == "true"
	tail := -1
	if v := q.Get("tailLines"); v != "" {
		if tail, err = strconv.Atoi(v); err != nil || tail < 0 {
			httpError(w, fmt.Errorf("tailLines %q must be a non-negative integer: %w", v, errBadRequest))
			return
		}
	}
	path := a.rt.LogPath(uid, name)
	growing, err := a.logGrowing(r, uid, name)
	if err != nil {
		// A container that is gone may have left its log: a finished
		// build's (its executor removes its containers), or a pod's whose
		// containers were cleaned up. It is read as it is.
		if _, statErr := os.Stat(path); statErr != nil || previous {
			httpError(w, err)
			return
		}
	}
	follow = follow && growing
	if previous {
		path = previousLogPath(path)
		follow = false // the previous instance has ended
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && growing && !previous {
		// A log still to be created by what will write it — a build
		// the agent has not started yet: it is empty so far, and a
		// follower waits for it.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if !follow {
			return
		}
		_ = http.NewResponseController(w).Flush()
		if f, err = a.openWhenCreated(r, uid, name, path); err != nil {
			return
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && previous {
			err = fmt.Errorf("container %q has no previous instance: %w", name, ErrContainerNotFound)
		}
		httpError(w, err)
		return
	}
	defer f.Close()
	if tail >= 0 {
		if err := seekTail(f, tail); err != nil {
			httpError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	if _, err := io.Copy(w, f); err != nil || !follow {
		return
	}
	_ = rc.Flush()
	// Follow: poll the file; end when the client goes or the container
	// instance ends (a restart moves this file aside; its end is read).
	// A rotation truncates the file: once it is shorter than what was
	// read, reading goes on from its start. Lines written between the last
	// read and the rotation are only in the rotated copy; if the file
	// regrows past the read offset between two polls, its start is missed.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	idle := 0
	for {
		n, err := io.Copy(w, f)
		if err != nil {
			return
		}
		if n == 0 && truncated(f) {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return
			}
			continue
		}
		if n > 0 {
			idle = 0
			_ = rc.Flush()
		} else if idle++; idle%5 == 0 {
			if growing, err := a.logGrowing(r, uid, name); err != nil || !growing {
				_, _ = io.Copy(w, f)
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// openWhenCreated waits until the log at path exists and opens it; it
// gives up when the client goes, or when the log is no longer growing and
// still does not exist.
func (a *Agent) openWhenCreated(r *http.Request, uid, name, path string) (*os.File, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		f, err := os.Open(path)
		if !errors.Is(err, os.ErrNotExist) {
			return f, err
		}
		if growing, err := a.logGrowing(r, uid, name); err != nil || !growing {
			return os.Open(path) // created before the build was known
		}
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-tick.C:
		}
	}
}

// truncated reports whether f is now shorter than the offset read to.
func truncated(f *os.File) bool {
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Size() < pos
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	if n == 0 {
		_, err := f.Seek(end, io.SeekStart)
		return err
	}
	const chunk = 8 << 10
	pos, lines := end, 0
	buf := make([]byte, chunk)
	// A final newline ends the last line rather than starting an empty one.
	skipLast := true
	for pos > 0 {
		size := min(int64(chunk), pos)
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				skipLast = false
				continue
			}
			if skipLast && pos+i == end-1 {
				skipLast = false
				continue
			}
			lines++
			if lines == n {
				_, err := f.Seek(pos+i+1, io.SeekStart)
				return err
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

func (a *Agent) serveExec(w http.ResponseWriter, r *http.Request) {
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		httpError(w, fmt.Errorf("at least one command parameter is required: %w", errBadRequest))
		return
	}
	uid, name, err := a.lookupContainer(r)
	if err != nil {
		httpError(w, err)
		return
	}
	st, err := a.containerState(r, uid, name)
	if err != nil {
		httpError(w, err)
		return
	}
	if st.State != runtime.StateRunning {
		httpError(w, fmt.Errorf("container %q: %w", name, errNotRunning))
		return
	}
	// The body (stdin) is read while the output streams back.
	_ = http.NewResponseController(w).EnableFullDuplex()
	var stdin io.Reader
	if r.ContentLength != 0 {
		stdin = r.Body
	}
	w.Header().Set("Content-Type", ExecContentType)
	w.WriteHeader(http.StatusOK)
	mux := execstream.NewMuxer(w)
	code, err := a.execIn(r.Context(), uid, name, cmd, stdin, mux.Stream(execstream.Stdout), mux.Stream(execstream.Stderr))
	if err != nil {
		// The command could not run (not found, not executable): report
		// it as a shell would.
		_, _ = mux.Stream(execstream.Stderr).Write([]byte(err.Error() + "\n"))
		code = 126
	}
	_ = mux.Exit(code)
}
