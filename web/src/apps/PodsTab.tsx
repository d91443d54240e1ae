import { useMemo } from 'react';
import { projectPath } from '../api/resources';
import type { Pod } from '../api/types';
import { Link } from '../app/router';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { RelativeTime } from '../components/RelativeTime';
import { TableHead } from '../components/TableHead';
import { sortedByName } from '../live/collection';
import { useLiveCollection } from '../live/useLiveCollection';
import { summarizePod } from './pods';

/** PodsTab lists an app's pods with their phase, readiness and restarts, live. */
export function PodsTab({ project, selector, logsBase }: { project: string; selector: string; logsBase: string }) {
  const client = useApi();
  const pods = useLiveCollection<Pod>(client, projectPath(project, 'pods'), { labelSelector: selector });
  const rows = useMemo(() => sortedByName(pods.state.byName).map(summarizePod), [pods.state.byName]);
  return (
    <section aria-labelledby="pods-heading" className="page__section">
      <h2 id="pods-heading">Pods</h2>
      {pods.error && <Alert title="Cannot list the pods">{pods.error}</Alert>}
      <table className="table" aria-label="Pods">
        <TableHead columns={['Name', 'Phase', 'Ready', 'Restarts', 'Node', 'Created']} actions />
        <tbody>
          {rows.map((p) => (
            <tr key={p.name} data-pod={p.name}>
              <th scope="row" className="mono">
                {p.name}
              </th>
              <td>
                <span className={`label label--${p.phase.toLowerCase()}`}>{p.phase}</span>
                {p.reason && <span className="table__secondary">{p.reason}</span>}
              </td>
              <td>
                {p.ready}/{p.containers}
              </td>
              <td className={p.restarts > 0 ? 'warning-text' : undefined}>{p.restarts}</td>
              <td>{p.node || <span className="muted">—</span>}</td>
              <td>
                <RelativeTime timestamp={p.created} />
              </td>
              <td className="table__actions">
                <Link to={`${logsBase}?pod=${encodeURIComponent(p.name)}`} aria-label={`Logs of ${p.name}`}>
                  Logs
                </Link>
              </td>
            </tr>
          ))}
          {pods.state.loaded && rows.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">
                No pods: the app is scaled to zero, or its pods are being created.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
