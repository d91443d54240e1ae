package runtime

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/slipway/slipway/node/podspec"
)

// cfsPeriod is the CFS period used for CPU limits (Kubernetes' default).
const cfsPeriod = 100_000 // µs

// specOpts builds the OCI spec of one container: the image's config, then
// Kubernetes' command/args rules, env, working directory, the pod's network
// namespace, cgroup limits and the restricted security defaults, ending
// with containerd's default seccomp profile.
func (r *Runtime) specOpts(ctx context.Context, pod podspec.Pod, c podspec.Container, img client.Image, nsPath string) ([]oci.SpecOpts, error) {
	imgSpec, err := img.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("read image config of %q: %w", c.Image, err)
	}
	// Kubernetes: command replaces the entrypoint and drops the image's
	// cmd; args replaces the cmd.
	args := append([]string(nil), imgSpec.Config.Entrypoint...)
	cmd := imgSpec.Config.Cmd
	if len(c.Command) > 0 {
		args, cmd = append([]string(nil), c.Command...), nil
	}
	if len(c.Args) > 0 {
		cmd = c.Args
	}
	args = append(args, cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: container %s: no command in pod or image", ErrInvalid, c.Name)
	}
	env := make([]string, 0, len(c.Env))
	for _, e := range c.Env {
		if e.Name == "" || strings.Contains(e.Name, "=") {
			return nil, fmt.Errorf("%w: container %s: env name %q", ErrInvalid, c.Name, e.Name)
		}
		env = append(env, e.Name+"="+e.Value)
	}

	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
		oci.WithEnv(env),
		oci.WithHostname(pod.Name),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPath}),
	}
	if c.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(c.WorkingDir))
	}
	if _, ok := r.opts.Network.(PodDNS); ok {
		opts = append(opts, oci.WithMounts([]specs.Mount{{
			Destination: "/etc/resolv.conf", Type: "bind", Source: r.resolvConfPath(pod.UID),
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
		}}))
	}
	resOpts, err := r.resourceOpts(c.Resources)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	opts = append(opts, resOpts...)
	secOpt, err := r.securityOpt(c)
	if err != nil {
		return nil, err
	}
	// The default profile allows some syscalls (mount, unshare, setns…)
	// only to a container holding the matching capability, so it is built
	// from the capabilities set just before.
	return append(opts, secOpt, seccomp.WithDefaultProfile()), nil
}

func (r *Runtime) resourceOpts(res podspec.ResourceRequirements) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	if q := res.Limits.Memory; q != "" {
		limit, err := parseBytes(q)
		if err != nil {
			return nil, err
		}
		opts = append(opts, oci.WithMemoryLimit(uint64(limit)))
		if r.memsw {
			// Swap limit = memory limit: no swap, as Kubernetes.
			opts = append(opts, oci.WithMemorySwap(limit))
		}
	}
	if q := res.Limits.CPU; q != "" {
		milli, err := parseMilliCPU(q)
		if err != nil {
			return nil, err
		}
		quota := max(milli*cfsPeriod/1000, 1000) // the kernel's floor is 1 ms
		opts = append(opts, oci.WithCPUCFS(quota, cfsPeriod))
	}
	request := res.Requests.CPU
	if request == "" {
		request = res.Limits.CPU
	}
	if request != "" {
		milli, err := parseMilliCPU(request)
		if err != nil {
			return nil, err
		}
		opts = append(opts, oci.WithCPUShares(uint64(max(milli*1024/1000, 2))))
	}
	return opts, nil
}

// securityOpt applies the restricted defaults (non-root user, no new
// privileges, no capabilities) and the container's securityContext.
func (r *Runtime) securityOpt(c podspec.Container) (oci.SpecOpts, error) {
	sc := c.SecurityContext
	if sc == nil {
		sc = &podspec.SecurityContext{}
	}
	var caps []string
	if sc.Capabilities != nil {
		drop := map[string]bool{}
		for _, d := range sc.Capabilities.Drop {
			drop[capName(d)] = true
		}
		for _, a := range sc.Capabilities.Add {
			if !drop[capName(a)] && !drop["CAP_ALL"] {
				caps = append(caps, capName(a))
			}
		}
	}
	for _, id := range []*int64{sc.RunAsUser, sc.RunAsGroup} {
		if id != nil && (*id < 0 || *id > 1<<32-2) {
			return nil, fmt.Errorf("%w: container %s: user or group id %d", ErrInvalid, c.Name, *id)
		}
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		u := &s.Process.User
		switch {
		case sc.RunAsUser != nil:
			u.UID = uint32(*sc.RunAsUser)
			if sc.RunAsGroup == nil {
				u.GID = u.UID
			}
			u.AdditionalGids = nil
		case u.UID == 0:
			// Neither the pod nor the image named a non-root user.
			u.UID, u.GID, u.AdditionalGids = r.opts.DefaultUID, r.opts.DefaultGID, nil
		}
		if sc.RunAsGroup != nil {
			u.GID = uint32(*sc.RunAsGroup)
		}
		if sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && u.UID == 0 {
			return fmt.Errorf("%w: container %s: runAsNonRoot with user 0", ErrInvalid, c.Name)
		}
		s.Process.NoNewPrivileges = sc.AllowPrivilegeEscalation == nil || !*sc.AllowPrivilegeEscalation
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding: caps, Permitted: caps, Effective: caps,
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		// The pod owns its network namespace: let its non-root processes
		// listen on ports below 1024, as Docker and CRI runtimes do.
		s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
		return nil
	}, nil
}

func capName(n string) string {
	n = strings.ToUpper(n)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	return n
}
