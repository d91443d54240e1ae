import type { Pod } from '../api/types';

export interface PodSummary {
  name: string;
  phase: string;
  ready: number;
  containers: number;
  restarts: number;
  /** Why a container waits or ended badly (CrashLoopBackOff, OOMKilled…). */
  reason: string;
  node: string;
  created: string | undefined;
}

export function summarizePod(pod: Pod): PodSummary {
  const statuses = pod.status?.containerStatuses ?? [];
  let reason = '';
  for (const s of statuses) {
    const why = s.state?.waiting?.reason ?? (s.state?.terminated && s.state.terminated.exitCode !== 0 ? s.state.terminated.reason : undefined);
    if (why) {
      reason = why;
      break;
    }
  }
  if (!reason && pod.metadata.deletionTimestamp) reason = 'Terminating';
  if (!reason && !pod.spec.nodeName) reason = pod.status?.reason ?? 'Not scheduled yet';
  return {
    name: pod.metadata.name,
    phase: pod.status?.phase ?? 'Pending',
    ready: statuses.filter((s) => s.ready).length,
    containers: pod.spec.containers.length,
    restarts: statuses.reduce((sum, s) => sum + (s.restartCount ?? 0), 0),
    reason,
    node: pod.spec.nodeName ?? '',
    created: pod.metadata.creationTimestamp,
  };
}
