import { useMemo, useState } from 'react';
import { buildFinished, cancelBuild, startBuild, webhookURLs, type BuildConfig } from '../api/builds';
import { describeError } from '../api/errors';
import { projectPath } from '../api/resources';
import type { Build, Deployment } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { CopyButton } from '../components/CopyButton';
import { RelativeTime } from '../components/RelativeTime';
import { TableHead } from '../components/TableHead';
import { useLiveCollection } from '../live/useLiveCollection';
import { buildConfigLabel, buildConfigCandidates, buildNumber } from '../project/apps';
import { BuildLog } from './BuildLog';

/** BuildsTab shows the app's BuildConfig: its builds (start, cancel, live log), webhook URLs and deliveries. */
export function BuildsTab({ project, deployment }: { project: string; deployment: Deployment }) {
  const client = useApi();
  const configs = useLiveCollection<BuildConfig>(client, projectPath(project, 'buildconfigs'));
  const bc = useMemo(() => {
    for (const name of buildConfigCandidates(deployment)) {
      const found = configs.state.byName.get(name);
      if (found) return found;
    }
    return undefined;
  }, [configs.state.byName, deployment]);
  const bcName = bc?.metadata.name ?? null;
  const builds = useLiveCollection<Build>(client, bcName ? projectPath(project, 'builds') : null, bcName ? { labelSelector: `${buildConfigLabel}=${bcName}` } : {});
  const list = useMemo(() => [...builds.state.byName.values()].sort((a, b) => buildNumber(b) - buildNumber(a)), [builds.state.byName]);
  const [chosen, setChosen] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [failure, setFailure] = useState<{ what: string; message: string } | null>(null);
  const shown = list.find((b) => b.metadata.name === chosen) ?? list[0];

  const act = async (what: string, action: () => Promise<Build>) => {
    setBusy(what);
    setFailure(null);
    try {
      const build = await action();
      if (what === 'start') {
        builds.put(build);
        setChosen(build.metadata.name);
      }
    } catch (error) {
      setFailure({ what, message: describeError(error) });
    } finally {
      setBusy(null);
    }
  };

  if (configs.state.loaded && !bc) {
    return (
      <section aria-labelledby="builds-heading" className="page__section">
        <h2 id="builds-heading">Builds</h2>
        <p className="muted">This app is not built by Slipway: no build configuration feeds it. Import from Git creates one.</p>
      </section>
    );
  }

  const hooks = bc ? webhookURLs(window.location.origin, project, bc) : [];
  const deliveries = [...(bc?.status?.webhookDeliveries ?? [])].reverse();
  return (
    <section aria-labelledby="builds-heading" className="page__section">
      <div className="section__header">
        <h2 id="builds-heading">Builds</h2>
        {bc && (
          <button type="button" className="button button--primary" disabled={busy === 'start'} onClick={() => void act('start', () => startBuild(client, project, bc.metadata.name))}>
            {busy === 'start' ? 'Starting…' : 'Start build'}
          </button>
        )}
      </div>
      {failure?.what === 'start' && <Alert title="Cannot start a build">{failure.message}</Alert>}
      {(configs.error ?? builds.error) && <Alert title="Cannot list the builds">{configs.error ?? builds.error}</Alert>}
      {bc && (
        <p className="muted">
          From <span className="mono">{bc.spec.source.git?.uri ?? 'uploaded sources'}</span>
          {bc.spec.source.git?.ref ? ` (${bc.spec.source.git.ref})` : ''} with <span className="mono">{bc.spec.strategy.sourceStrategy?.from.name}</span>
        </p>
      )}
      <table className="table" aria-label="Builds">
        <TableHead columns={['Build', 'Status', 'Cause', 'Commit', 'Started']} actions />
        <tbody>
          {list.map((b) => {
            const name = b.metadata.name;
            const phase = b.status?.phase ?? 'New';
            const status = b.status as { cause?: { type?: string; message?: string }; revision?: { commit?: string; message?: string } } | undefined;
            return (
              <tr key={name} data-build={name} aria-selected={shown?.metadata.name === name}>
                <th scope="row">
                  <button type="button" className="button button--plain" aria-pressed={shown?.metadata.name === name} onClick={() => setChosen(name)} aria-label={`Show the log of ${name}`}>
                    {name}
                  </button>
                </th>
                <td>
                  <span className={`label label--${phase.toLowerCase()}`}>{phase}</span>
                  {b.status?.message && <span className="table__secondary">{b.status.message}</span>}
                </td>
                <td>{status?.cause?.message ?? status?.cause?.type ?? '—'}</td>
                <td className="mono" title={status?.revision?.message}>
                  {status?.revision?.commit?.slice(0, 10) ?? '—'}
                </td>
                <td>
                  <RelativeTime timestamp={b.status?.startTimestamp} />
                </td>
                <td className="table__actions">
                  {failure?.what === name && (
                    <span className="inline-error" role="alert">
                      {failure.message}
                    </span>
                  )}
                  {!buildFinished.has(phase) && !(b.spec as { cancelled?: boolean } | undefined)?.cancelled && (
                    <button type="button" className="button button--plain button--danger-text" disabled={busy === name} aria-label={`Cancel build ${name}`} onClick={() => void act(name, () => cancelBuild(client, project, name))}>
                      Cancel
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
          {builds.state.loaded && list.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">
                No builds yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {shown && (
        <div className="card">
          <h3>Log of {shown.metadata.name}</h3>
          <BuildLog project={project} build={shown} />
        </div>
      )}
      {bc && (
        <div className="card">
          <h3>Webhooks</h3>
          <p className="muted">Point the Git host’s push webhook at one of these URLs: a push to the built branch starts a build.</p>
          <ul className="webhooks">
            {hooks.map((h) => (
              <li key={h.type} className="copyable">
                <span className="webhooks__type">{h.type}{h.signed ? ' (signed)' : ''}</span>
                {h.url ? (
                  <>
                    <code className="copyable__text" data-webhook={h.type}>
                      {h.url}
                    </code>
                    <CopyButton text={h.url} label={`Copy the ${h.type} webhook URL`} variant="secondary" />
                  </>
                ) : (
                  <span className="muted">The secret is in the Secret {h.secretName}: the URL ends with /webhooks/SECRET/{h.type.toLowerCase()}.</span>
                )}
              </li>
            ))}
          </ul>
          <h4>Deliveries</h4>
          <table className="table" aria-label="Webhook deliveries">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Type</th>
                <th scope="col">Event</th>
                <th scope="col">Result</th>
                <th scope="col">Why</th>
                <th scope="col">Build</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.map((d, i) => (
                <tr key={`${d.deliveryId ?? ''}-${d.time ?? ''}-${i}`}>
                  <td>
                    <RelativeTime timestamp={d.time} />
                  </td>
                  <td>{d.type}</td>
                  <td>
                    {d.event ?? '—'}
                    {d.ref && <span className="table__secondary">{d.ref}</span>}
                  </td>
                  <td>
                    <span className={`label label--${d.result === 'Triggered' ? 'complete' : d.result === 'Rejected' ? 'failed' : 'pending'}`}>{d.result}</span>
                  </td>
                  <td>{d.reason ?? '—'}</td>
                  <td>{d.build ?? '—'}</td>
                </tr>
              ))}
              {deliveries.length === 0 && (
                <tr>
                  <td colSpan={6} className="muted">
                    No webhook call has reached this build configuration yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
