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
 * newest first, marking the one its template is at.
 */
export function revisions(deployment: Deployment, replicaSets: Iterable<ReplicaSet>): Revision[] {
  const current = revisionOf(deployment);
  const out: Revision[] = [];
  for (const rs of replicaSets) {
    const owner = rs.metadata.annotations?.[ownerUidAnnotation];
    if (deployment.metadata.uid && owner && owner !== deployment.metadata.uid) continue;
    const revision = revisionOf(rs);
    out.push({ revision, replicaSet: rs, images: rs.spec.template.spec.containers.map((c) => c.image).join(', '), current: revision === current && current > 0 });
  }
  return out.sort((a, b) => b.revision - a.revision);
}

/** lastRollback is the note the server leaves on a rolled-back Deployment. */
export function lastRollback(deployment: Deployment): string | null {
  return deployment.metadata.annotations?.[rollbackAnnotation] ?? null;
}
