import { useMemo, useState } from 'react';
import { ApiError, describeError } from '../api/errors';
import { clusterPath, evictPod, listAll, setUnschedulable } from '../api/resources';
import type { Node, Pod } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { LiveIndicator } from '../components/LiveIndicator';
import { PageTitle } from '../components/PageTitle';
import { TableHead } from '../components/TableHead';
import { sortedByName } from '../live/collection';
import { useLiveCollection } from '../live/useLiveCollection';

/** readyCondition says whether the node's agent reports Ready. */
export function nodeReady(node: Node): 'Ready' | 'NotReady' | 'Unknown' {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready) return 'Unknown';
  return ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'NotReady' : 'Unknown';
}

/** Conditions other than Ready that are True are problems (MemoryPressure…). */
export function nodeProblems(node: Node): string[] {
  return (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready' && c.status === 'True').map((c) => c.type);
}

export interface DrainResult {
  evicted: string[];
  /** Pods a disruption budget protects for now (429), with the server's words. */
  waiting: { pod: string; message: string }[];
  failed: { pod: string; message: string }[];
}

/**
 * drain cordons the node and evicts each of its pods once; evictions a
 * PodDisruptionBudget refuses (429) are reported for a later attempt.
 */
export async function drain(client: ReturnType<typeof useApi>, node: string): Promise<DrainResult> {
  await setUnschedulable(client, node, true);
  const pods = await listAll<Pod>(client, clusterPath('pods'));
  const result: DrainResult = { evicted: [], waiting: [], failed: [] };
  for (const pod of pods.items) {
    if (pod.spec.nodeName !== node || pod.metadata.deletionTimestamp) continue;
    const name = `${pod.metadata.project ?? ''}/${pod.metadata.name}`;
    try {
      await evictPod(client, pod);
      result.evicted.push(name);
    } catch (error) {
      if (error instanceof ApiError && error.code === 429) result.waiting.push({ pod: name, message: describeError(error) });
      else if (error instanceof ApiError && error.code === 404) continue;
      else result.failed.push({ pod: name, message: describeError(error) });
    }
  }
  return result;
}

/** NodesPage shows the cluster's nodes to cluster admins, and cordons, uncordons and drains them. */
export function NodesPage() {
  const client = useApi();
  const nodes = useLiveCollection<Node>(client, clusterPath('nodes'));
  const list = useMemo(() => sortedByName(nodes.state.byName), [nodes.state.byName]);
  const [busy, setBusy] = useState<string | null>(null);
  const [failure, setFailure] = useState<{ node: string; message: string } | null>(null);
  const [drained, setDrained] = useState<{ node: string; result: DrainResult } | null>(null);

  const act = async (node: string, action: () => Promise<void>) => {
    setBusy(node);
    setFailure(null);
    try {
      await action();
    } catch (error) {
      setFailure({ node, message: describeError(error) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="page__section">
      <div className="page__header">
        <PageTitle>Nodes</PageTitle>
        <LiveIndicator state={nodes.watchState} />
      </div>
      {nodes.forbidden ? (
        <Alert variant="info">Only cluster administrators can see the nodes.</Alert>
      ) : (
        nodes.error && <Alert title="Cannot list the nodes">{nodes.error}</Alert>
      )}
      {drained && (
        <Alert variant={drained.result.waiting.length || drained.result.failed.length ? 'info' : 'success'} title={`Drain of ${drained.node}`}>
          {drained.result.evicted.length} {drained.result.evicted.length === 1 ? 'pod' : 'pods'} evicted.
          {drained.result.waiting.map((w) => (
            <span key={w.pod} className="block">
              {w.pod} waits: {w.message} Drain again later.
            </span>
          ))}
          {drained.result.failed.map((f) => (
            <span key={f.pod} className="block">
              {f.pod} could not be evicted: {f.message}
            </span>
          ))}
        </Alert>
      )}
      {nodes.state.loaded && list.length === 0 && <p className="empty">No node has joined the cluster.</p>}
      {list.length > 0 && (
        <table className="table" aria-label="Nodes">
          <TableHead columns={['Name', 'Status', 'CPU (allocatable / capacity)', 'Memory (allocatable / capacity)', 'Pods', 'System']} actions />
          <tbody>
            {list.map((node) => {
              const name = node.metadata.name;
              const ready = nodeReady(node);
              const problems = nodeProblems(node);
              const cordoned = Boolean(node.spec.unschedulable);
              const cap = node.status?.capacity ?? {};
              const alloc = node.status?.allocatable ?? {};
              return (
                <tr key={name} data-node={name}>
                  <th scope="row">{name}</th>
                  <td>
                    <span className={`label ${ready === 'Ready' ? 'label--active' : 'label--failed'}`}>{ready}</span>
                    {cordoned && <span className="label label--pending">Cordoned</span>}
                    {problems.map((p) => (
                      <span key={p} className="label label--failed">
                        {p}
                      </span>
                    ))}
                  </td>
                  <td>
                    {alloc.cpu ?? '—'} / {cap.cpu ?? '—'}
                  </td>
                  <td>
                    {alloc.memory ?? '—'} / {cap.memory ?? '—'}
                  </td>
                  <td>
                    {alloc.pods ?? '—'} / {cap.pods ?? '—'}
                  </td>
                  <td className="table__secondary-cell">
                    {[
                      node.status?.nodeInfo?.osImage,
                      node.status?.nodeInfo?.architecture,
                      node.status?.nodeInfo?.podNetwork && `${node.status.nodeInfo.podNetwork} network`,
                    ]
                      .filter(Boolean)
                      .join(', ') || '—'}
                  </td>
                  <td className="table__actions">
                    {failure?.node === name && (
                      <span className="inline-error" role="alert">
                        {failure.message}
                      </span>
                    )}
                    <button
                      type="button"
                      className="button button--secondary"
                      disabled={busy === name}
                      aria-label={`${cordoned ? 'Uncordon' : 'Cordon'} node ${name}`}
                      onClick={() => void act(name, async () => void (await setUnschedulable(client, name, !cordoned)))}
                    >
                      {cordoned ? 'Uncordon' : 'Cordon'}
                    </button>
                    <button
                      type="button"
                      className="button button--secondary"
                      disabled={busy === name}
                      aria-label={`Drain node ${name}`}
                      onClick={() =>
                        void act(name, async () => {
                          setDrained(null);
                          setDrained({ node: name, result: await drain(client, name) });
                        })
                      }
                    >
                      {busy === name ? 'Working…' : 'Drain'}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
