// Package probe runs a container's liveness, readiness and startup probes:
// HTTP GET and TCP connect against the pod's IP, or a command run in the
// container through a function the caller supplies. A Worker applies
// Kubernetes' timing rules (initialDelaySeconds, periodSeconds,
// timeoutSeconds, successThreshold, failureThreshold) and reports each change
// of the thresholded result.
package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/slipway/slipway/api"
)

// Defaults of Kubernetes' probe fields.
const (
	DefaultPeriod           = 10 * time.Second
	DefaultTimeout          = time.Second
	DefaultFailureThreshold = 3
)

// ExecFunc runs cmd in the probed container and returns its exit code.
type ExecFunc func(ctx context.Context, cmd []string) (int, error)

// Target is what a probe checks.
type Target struct {
	IP    netip.Addr
	Ports []api.ContainerPort // resolves named ports
	Exec  ExecFunc
}

var httpClient = &http.Client{
	Transport: &http.Transport{
		// Probes are point-to-point: no proxy, no keep-alive (one
		// connection per check, as kubelet), no certificate checks.
		Proxy:             nil,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet does not verify probe targets either
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Check runs the probe once, bounded by its timeout. A nil error is
// success; the error says why it failed.
func Check(ctx context.Context, p *api.Probe, t Target) error {
	timeout := DefaultTimeout
	if p.TimeoutSeconds > 0 {
		timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		port, err := resolvePort(p.HTTPGet.Port, t.Ports)
		if err != nil {
			return err
		}
		scheme := "http"
		if p.HTTPGet.Scheme == "HTTPS" {
			scheme = "https"
		}
		path := p.HTTPGet.Path
		if path == "" || path[0] != '/' {
			path = "/" + path
		}
		url := scheme + "://" + net.JoinHostPort(t.IP.String(), strconv.Itoa(int(port))) + path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		req.Header.Set("User-Agent", "slipway-probe/1.0")
		for _, h := range p.HTTPGet.HTTPHeaders {
			req.Header.Set(h.Name, h.Value)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return fmt.Errorf("probe: GET %s: %w", url, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("probe: GET %s: HTTP %d", url, resp.StatusCode)
		}
		return nil
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, t.Ports)
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.IP.String(), strconv.Itoa(int(port))))
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		conn.Close()
		return nil
	case p.Exec != nil:
		if t.Exec == nil {
			return fmt.Errorf("probe: exec is not available")
		}
		code, err := t.Exec(ctx, p.Exec.Command)
		if err != nil {
			return fmt.Errorf("probe: exec %q: %w", p.Exec.Command, err)
		}
		if code != 0 {
			return fmt.Errorf("probe: exec %q exited with %d", p.Exec.Command, code)
		}
		return nil
	}
	return fmt.Errorf("probe: no action")
}

func resolvePort(p api.IntOrString, ports []api.ContainerPort) (int32, error) {
	if !p.IsStr {
		return p.IntVal, nil
	}
	for _, cp := range ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return int32(n), nil
	}
	return 0, fmt.Errorf("probe: no container port named %q", p.StrVal)
}

// Run probes t until ctx ends: it waits initialDelaySeconds, then checks
// every periodSeconds and calls report(ok, err) each time the thresholded
// result changes (and once for the first decided result). A result becomes
// success after successThreshold consecutive successes and failure after
// failureThreshold consecutive failures.
func Run(ctx context.Context, p *api.Probe, t Target, report func(ok bool, err error)) {
	period := DefaultPeriod
	if p.PeriodSeconds > 0 {
		period = time.Duration(p.PeriodSeconds) * time.Second
	}
	loop(ctx, p, t, period, report)
}

func loop(ctx context.Context, p *api.Probe, t Target, period time.Duration, report func(ok bool, err error)) {
	successes, failures := int32(1), int32(DefaultFailureThreshold)
	if p.SuccessThreshold > 0 {
		successes = p.SuccessThreshold
	}
	if p.FailureThreshold > 0 {
		failures = p.FailureThreshold
	}
	if !sleep(ctx, time.Duration(p.InitialDelaySeconds)*time.Second) {
		return
	}
	var okRun, failRun int32
	decided, last := false, false
	for {
		err := Check(ctx, p, t)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
			if okRun >= successes && (!decided || !last) {
				decided, last = true, true
				report(true, nil)
			}
		} else {
			okRun, failRun = 0, failRun+1
			if failRun >= failures && (!decided || last) {
				decided, last = true, false
				report(false, err)
			}
		}
		if !sleep(ctx, period) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
