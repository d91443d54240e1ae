import { useMemo, useState } from 'react';
import { describeError } from '../api/errors';
import { projectPath, rollbackDeployment } from '../api/resources';
import type { Deployment, ReplicaSet } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { RelativeTime } from '../components/RelativeTime';
import { TableHead } from '../components/TableHead';
import { useLiveCollection } from '../live/useLiveCollection';
import { lastRollback, revisions } from './history';

/**
 * HistoryTab lists the app's revisions (its ReplicaSets) and rolls back to
 * one with a click (POST …/deployments/{name}/rollback {"toRevision": N}).
 */
export function HistoryTab({ project, deployment, selector }: { project: string; deployment: Deployment; selector: string }) {
  const client = useApi();
  const replicaSets = useLiveCollection<ReplicaSet>(client, projectPath(project, 'replicasets'), { labelSelector: selector });
  const rows = useMemo(() => revisions(deployment, replicaSets.state.byName.values()), [deployment, replicaSets.state.byName]);
  const [busy, setBusy] = useState<number | null>(null);
  const [failure, setFailure] = useState<{ revision: number; message: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const note = lastRollback(deployment);

  const rollback = async (revision: number) => {
    setBusy(revision);
    setFailure(null);
    setNotice(null);
    try {
      await rollbackDeployment(client, project, deployment.metadata.name, revision);
      setNotice(`Rolling back to revision ${revision}: its template becomes a new revision.`);
    } catch (error) {
      setFailure({ revision, message: describeError(error) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <section aria-labelledby="history-heading" className="page__section">
      <h2 id="history-heading">Rollouts</h2>
      {replicaSets.error && <Alert title="Cannot list the revisions">{replicaSets.error}</Alert>}
      {notice && <Alert variant="success">{notice}</Alert>}
      {note && <p className="muted">Last rollback: {note}</p>}
      <table className="table" aria-label="Revisions">
        <TableHead columns={['Revision', 'Image', 'Pods', 'Created']} actions />
        <tbody>
          {rows.map((r) => (
            <tr key={r.replicaSet.metadata.name} data-revision={r.revision}>
              <th scope="row">
                {r.revision} {r.current && <span className="label label--running">Current</span>}
              </th>
              <td className="mono">{r.images}</td>
              <td>
                {r.replicaSet.status?.readyReplicas ?? 0}/{r.replicaSet.spec.replicas ?? 0}
              </td>
              <td>
                <RelativeTime timestamp={r.replicaSet.metadata.creationTimestamp} />
              </td>
              <td className="table__actions">
                {failure?.revision === r.revision && (
                  <span className="inline-error" role="alert">
                    {failure.message}
                  </span>
                )}
                {!r.current && (
                  <button
                    type="button"
                    className="button button--secondary"
                    disabled={busy !== null}
                    onClick={() => void rollback(r.revision)}
                    aria-label={`Roll back to revision ${r.revision}`}
                  >
                    {busy === r.revision ? 'Rolling back…' : 'Roll back'}
                  </button>
                )}
              </td>
            </tr>
          ))}
          {replicaSets.state.loaded && rows.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No revisions yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
