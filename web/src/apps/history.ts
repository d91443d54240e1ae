import { ownerUidAnnotation, revisionAnnotation, rollbackAnnotation } from '../api/resources';
import type { Deployment, ReplicaSet } from '../api/types';

export interface Revision {
  revision: number;
  replicaSet: ReplicaSet;
  images: string;
  current: boolean;
}

export function revisionOf(object: { metadata: { annotations?: Record<string, string> } }): number {
  const n = Number(object.metadata.annotations?.[revisionAnnotation]);
  return Number.isFinite(n) ? n : 0;
}

/**
 * revisions lists a Deployment's ReplicaSets (its own: same owner uid),
 * newest first. The newest is the template's: the controller gives a
 * ReplicaSet the next revision whenever the template returns to it.
 */
export function revisions(deployment: Deployment, replicaSets: Iterable<ReplicaSet>): Revision[] {
  const out: Revision[] = [];
  for (const rs of replicaSets) {
    const owner = rs.metadata.annotations?.[ownerUidAnnotation];
    if (deployment.metadata.uid && owner && owner !== deployment.metadata.uid) continue;
    out.push({ revision: revisionOf(rs), replicaSet: rs, images: rs.spec.template.spec.containers.map((c) => c.image).join(', '), current: false });
  }
  out.sort((a, b) => b.revision - a.revision);
  if (out[0]) out[0].current = true;
  return out;
}

/** lastRollback is the note the server leaves on a rolled-back Deployment. */
export function lastRollback(deployment: Deployment): string | null {
  return deployment.metadata.annotations?.[rollbackAnnotation] ?? null;
}
