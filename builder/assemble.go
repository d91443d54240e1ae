package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/slipway/slipway/builder/s2i"
	"github.com/slipway/slipway/builder/source"
	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/node/runtime"
)

// secretEnv are the build container's variables that only the executor
// reads.
var secretEnv = map[string]bool{EnvBuild: true, EnvPushToken: true, EnvSourceToken: true, EnvSourceSSHKey: true}

// assemble runs the assemble script in the build pod's container and
// returns its exit code once it ended. The pod (its network namespace and
// the stopped container) stays for the commit and for the agent.
func (e *Executor) assemble(ctx context.Context, j *job, p *plan) (uint32, string, error) {
	c := j.container
	// assemble's stderr joins its stdout in the container (every S2I
	// builder image has /bin/sh): the shim of containerd 1.6 closes a log
	// file shared by both streams as soon as stdout ends, so whatever
	// stderr still had to say was lost — typically the error that failed
	// the build. One stream also keeps the lines in the order written.
	c.Command = []string{"/bin/sh", "-c", `exec "$0" 2>&1`, p.scripts[s2i.Assemble].Path}
	c.Args = nil
	var env []podspec.EnvVar
	for _, v := range c.Env {
		if !secretEnv[v.Name] {
			env = append(env, v)
		}
	}
	for _, v := range s2i.AssembleEnv(j.info, p.fileEnv, p.strategyEnv) {
		env = append(env, podspec.EnvVar{Name: v.Name, Value: v.Value})
	}
	c.Env = env
	uid, gid := p.uid, p.gid
	c.SecurityContext = &podspec.SecurityContext{RunAsUser: &uid, RunAsGroup: &gid}
	pod := j.pod
	pod.Containers = []podspec.Container{c}
	fmt.Fprintf(j.log, "Running %s in %s ...\n", p.scripts[s2i.Assemble].Path, c.Image)
	_, err := e.rt.RunPod(ctx, pod, runtime.WithPrepare(func(ctx context.Context, _, rootfs string) error {
		return e.inject(j, p, rootfs)
	}))
	if err != nil {
		return 0, "", fmt.Errorf("start assemble: %w", err)
	}
	ctr, err := e.ctr.LoadContainer(ctx, runtime.ContainerID(pod.UID, ContainerName))
	if err != nil {
		return 0, "", fmt.Errorf("load build container: %w", err)
	}
	code, err := waitTask(ctx, ctr)
	if err != nil {
		return 0, "", err
	}
	reason := ""
	if code != 0 {
		if st, err := e.rt.PodStatus(ctx, pod.UID); err == nil {
			for _, cs := range st.Containers {
				if cs.Name == ContainerName {
					reason = cs.Reason
				}
			}
		}
	}
	if err := flushOutput(ctx, ctr); err != nil {
		return 0, "", err
	}
	return code, reason, nil
}

// flushOutput deletes a container's exited task. The exit is reported
// while the shim may still be copying the last output into the log file;
// Delete waits for the copy, so the build log holds all of assemble's
// output before the executor writes its own closing line. The container
// and its snapshot stay for the commit.
func flushOutput(ctx context.Context, ctr client.Container) error {
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load task: %w", err)
	}
	if _, err := task.Delete(context.WithoutCancel(ctx)); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete the exited task: %w", err)
	}
	return nil
}

// waitTask waits for a container's task to exit; when ctx ends first it
// kills the task and still waits for the exit (bounded), so nothing runs
// after the build returns.
func waitTask(ctx context.Context, ctr client.Container) (uint32, error) {
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("load task: %w", err)
	}
	waitCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	exited, err := task.Wait(waitCtx)
	if err != nil {
		return 0, fmt.Errorf("wait for task: %w", err)
	}
	select {
	case st := <-exited:
		return st.ExitCode(), st.Error()
	case <-ctx.Done():
		_ = task.Kill(waitCtx, 9, client.WithKillAll)
		<-exited
		return 0, ctx.Err()
	}
}

// inject writes the source, the injected scripts and the previous build's
// artifacts into the build container's root filesystem, owned by the
// build's user, before assemble starts.
func (e *Executor) inject(j *job, p *plan, rootfs string) error {
	dest, err := inRoot(rootfs, p.dest)
	if err != nil {
		return err
	}
	// src/, scripts/ and artifacts/ start empty: what the image holds there
	// (a symbolic link out of the root filesystem, say) is removed, so that
	// nothing is written through it on the host.
	for _, d := range []string{"src", "scripts", "artifacts"} {
		if err := os.RemoveAll(filepath.Join(dest, d)); err != nil {
			return fmt.Errorf("clear %s/%s: %w", p.dest, d, err)
		}
	}
	srcDir := filepath.Join(dest, "src")
	if err := mkdirOwned(srcDir, int(p.uid), int(p.gid)); err != nil {
		return err
	}
	n, err := copyTree(p.srcDir, srcDir, p.ignore, int(p.uid), int(p.gid))
	if err != nil {
		return fmt.Errorf("copy source: %w", err)
	}
	fmt.Fprintf(j.log, "Copied %d files of source to %s/src\n", n, p.dest)
	if len(p.scriptFiles) > 0 {
		scriptsDir := filepath.Join(dest, "scripts")
		if err := mkdirOwned(scriptsDir, int(p.uid), int(p.gid)); err != nil {
			return err
		}
		for name, host := range p.scriptFiles {
			if err := copyFile(host, filepath.Join(scriptsDir, name), 0o755, int(p.uid), int(p.gid)); err != nil {
				return fmt.Errorf("inject script %s: %w", name, err)
			}
		}
	}
	if p.artifacts != "" {
		artDir := filepath.Join(dest, "artifacts")
		if err := mkdirOwned(artDir, int(p.uid), int(p.gid)); err != nil {
			return err
		}
		f, err := os.Open(p.artifacts)
		if err != nil {
			return fmt.Errorf("open artifacts: %w", err)
		}
		defer f.Close()
		if err := source.ExtractTar(artDir, f); err != nil {
			return fmt.Errorf("inject artifacts: %w", err)
		}
		if err := chownTree(artDir, int(p.uid), int(p.gid)); err != nil {
			return fmt.Errorf("inject artifacts: %w", err)
		}
	}
	return nil
}

// inRoot joins an absolute container path to rootfs, refusing symbolic
// links on the way (the image must not redirect the injection).
func inRoot(rootfs, p string) (string, error) {
	cur := rootfs
	for _, part := range strings.Split(strings.Trim(filepath.Clean(p), "/"), "/") {
		if part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%w: %s is a symbolic link in the builder image", ErrInvalid, p)
		}
	}
	return cur, nil
}

func mkdirOwned(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o775); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	return nil
}

// copyTree copies regular files, directories and symbolic links from src
// to dst, leaving out what ignore matches, owned by uid:gid. It returns
// the number of files copied.
func copyTree(src, dst string, ignore *s2i.Ignore, uid, gid int) (int, error) {
	n := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		if ignore.Match(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()|0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			return os.Lchown(target, uid, gid)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(target)
			if err := os.Symlink(link, target); err != nil {
				return err
			}
			return os.Lchown(target, uid, gid)
		case info.Mode().IsRegular():
			n++
			return copyFile(p, target, info.Mode().Perm(), uid, gid)
		}
		return nil
	})
	return n, err
}

func copyFile(src, dst string, mode fs.FileMode, uid, gid int) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(dst, mode); err != nil {
		return err
	}
	return os.Lchown(dst, uid, gid)
}

func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
