import { useMemo, useState } from 'react';
import { projectPath } from '../api/resources';
import type { Pod } from '../api/types';
import { useNavigate } from '../app/router';
import { useApi } from '../auth/AuthContext';
import { Field } from '../components/Field';
import { sortedByName } from '../live/collection';
import { useLiveCollection } from '../live/useLiveCollection';
import { LogViewer } from '../logs/LogViewer';

/** LogsTab picks a pod (and container) of the app and follows its log. */
export function LogsTab({ project, selector, pod, base }: { project: string; selector: string; pod: string | null; base: string }) {
  const client = useApi();
  const navigate = useNavigate();
  const pods = useLiveCollection<Pod>(client, projectPath(project, 'pods'), { labelSelector: selector });
  const list = useMemo(() => sortedByName(pods.state.byName), [pods.state.byName]);
  const chosen = pod ?? list.find((p) => p.status?.phase === 'Running')?.metadata.name ?? list[0]?.metadata.name ?? null;
  const containers = (chosen ? pods.state.byName.get(chosen)?.spec.containers : undefined) ?? [];
  const [container, setContainer] = useState<string>('');
  const multi = containers.length > 1;
  const containerName = containers.some((c) => c.name === container) ? container : (containers[0]?.name ?? '');

  return (
    <section aria-labelledby="logs-heading" className="page__section">
      <h2 id="logs-heading">Logs</h2>
      <div className="inline-form">
        <Field label="Pod">
          {(control) => (
            <select {...control} value={chosen ?? ''} onChange={(e) => navigate(`${base}?pod=${encodeURIComponent(e.target.value)}`, { replace: true })}>
              {chosen && !list.some((p) => p.metadata.name === chosen) && <option value={chosen}>{chosen}</option>}
              {list.map((p) => (
                <option key={p.metadata.name} value={p.metadata.name}>
                  {p.metadata.name} ({p.status?.phase ?? 'Pending'})
                </option>
              ))}
            </select>
          )}
        </Field>
        {containers.length > 1 && (
          <Field label="Container">
            {(control) => (
              <select {...control} value={containerName} onChange={(e) => setContainer(e.target.value)}>
                {containers.map((c) => (
                  <option key={c.name} value={c.name}>
                    {c.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        )}
      </div>
      {chosen ? (
        <LogViewer key={`${chosen}/${multi ? containerName : ''}`} path={projectPath(project, 'pods', chosen, 'log')} name={chosen} container={multi ? containerName : undefined} />
      ) : (
        pods.state.loaded && <p className="muted">The app has no pods, so no logs.</p>
      )}
    </section>
  );
}
