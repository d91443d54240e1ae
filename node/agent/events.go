package agent

import (
	"context"
	"strconv"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"

	"github.com/slipway/slipway/node/runtime"
)

// runEvents queues a pod as soon as one of its containers' main process
// exits, from containerd's event stream; the resync covers the gaps while
// containerd is away.
func (a *Agent) runEvents(ctx context.Context) {
	filter := "namespace==" + strconv.Quote(a.cfg.Runtime.Namespace) + `,topic=="/tasks/exit"`
	for n := 0; ctx.Err() == nil; n++ {
		sctx, cancel := context.WithCancel(ctx)
		evs, errs := a.ctr.Subscribe(sctx, filter)
	loop:
		for {
			select {
			case <-ctx.Done():
				cancel()
				return
			case err := <-errs:
				if ctx.Err() == nil {
					a.log.WarnContext(ctx, "containerd events", "err", err)
				}
				break loop
			case env := <-evs:
				n = 0
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				exit, ok := v.(*apievents.TaskExit)
				if !ok || exit.ID != exit.ContainerID { // exec'd processes (probes) too
					continue
				}
				c, err := a.ctr.LoadContainer(a.ns(ctx), exit.ContainerID)
				if err != nil {
					continue
				}
				labels, err := c.Labels(a.ns(ctx))
				if uid := labels[runtime.LabelPodUID]; err == nil && uid != "" {
					a.queue.Add(uid)
				}
			}
		}
		cancel()
		sleep(ctx, a.retryDelay(n))
	}
}
