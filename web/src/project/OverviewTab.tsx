import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { projectPath } from '../api/resources';
import type { Build, Deployment, Route, Service } from '../api/types';
import { Link } from '../app/router';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { LiveIndicator } from '../components/LiveIndicator';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { sortedByName } from '../live/collection';
import { useDiscovery } from '../live/useDiscovery';
import { useLiveCollection } from '../live/useLiveCollection';
import { latestBuilds, routesByService, summarize, type AppSummary } from './apps';

const rowHeight = 56;

/** Performance marks the overview leaves for the e2e and perf tests. */
export const overviewMarks = {
  start: 'slipway:overview:start',
  firstRender: 'slipway:overview:first-render',
  listToRender: 'slipway:overview:list-to-render',
  update: 'slipway:overview:update',
};

/**
 * OverviewTab shows every app (Deployment) of a project with its pods,
 * rollout, last build and route URLs, kept current by watches. Rows are
 * windowed and memoised on plain values: an event re-renders one row.
 */
export function OverviewTab({ project }: { project: string }) {
  const client = useApi();
  const resources = useDiscovery(client);
  const started = useRef(0);
  if (started.current === 0) {
    started.current = performance.now();
    performance.mark(overviewMarks.start);
  }
  const deployments = useLiveCollection<Deployment>(client, projectPath(project, 'deployments'));
  const services = useLiveCollection<Service>(client, projectPath(project, 'services'));
  const routes = useLiveCollection<Route>(client, projectPath(project, 'routes'));
  const hasBuilds = resources?.has('builds') ?? false;
  const builds = useLiveCollection<Build>(client, hasBuilds ? projectPath(project, 'builds') : null);
  const [filter, setFilter] = useState('');

  const related = useMemo(
    () => ({
      services: [...services.state.byName.values()],
      routesByService: routesByService(routes.state.byName.values()),
      latestBuildByConfig: latestBuilds(builds.state.byName.values()),
    }),
    [services.state.byName, routes.state.byName, builds.state.byName],
  );
  const apps = useMemo(() => sortedByName(deployments.state.byName).map((d) => summarize(d, related)), [deployments.state.byName, related]);
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = words.length ? apps.filter((a) => words.every((w) => a.name.includes(w))) : apps;

  const loaded = deployments.state.loaded;
  // First render: from opening the tab, and from the list's arrival, to
  // the rows being in the DOM.
  useLayoutEffect(() => {
    if (!loaded) return;
    performance.measure(overviewMarks.firstRender, { start: started.current, end: performance.now() });
    performance.measure(overviewMarks.listToRender, { start: deployments.state.loadedAt, end: performance.now() });
    // Only once per load.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [loaded]);
  // An update: from the watch event's arrival to its row in the DOM.
  const lastEventAt = deployments.state.lastEventAt;
  useLayoutEffect(() => {
    if (lastEventAt > 0) performance.measure(overviewMarks.update, { start: lastEventAt, end: performance.now() });
  }, [lastEventAt]);
  useEffect(() => () => performance.clearMarks(overviewMarks.start), []);

  const columns = useMemo<Column[]>(
    () => [
      { label: 'App', width: 'minmax(140px, 1.4fr)' },
      { label: 'Pods', width: 'minmax(90px, 0.7fr)' },
      { label: 'Status', width: 'minmax(120px, 0.9fr)' },
      ...(hasBuilds ? [{ label: 'Last build', width: 'minmax(140px, 1fr)' }] : []),
      { label: 'Routes', width: 'minmax(180px, 1.6fr)' },
    ],
    [hasBuilds],
  );
  const error = deployments.error ?? services.error ?? routes.error ?? builds.error;

  return (
    <section aria-labelledby="overview-heading" className="page__section">
      <h2 id="overview-heading" className="visually-hidden">
        Apps
      </h2>
      <div className="toolbar">
        <label className="toolbar__filter">
          <span className="visually-hidden">Filter apps by name</span>
          <input type="search" placeholder="Filter apps" value={filter} onChange={(e) => setFilter(e.target.value)} aria-describedby="apps-summary" />
        </label>
        <p id="apps-summary" className="toolbar__summary" role="status" aria-live="polite">
          {!loaded ? 'Loading apps…' : words.length ? `${shown.length} of ${apps.length} apps` : `${apps.length} ${apps.length === 1 ? 'app' : 'apps'}`}
        </p>
        <LiveIndicator state={deployments.watchState} />
        {resources?.has('buildconfigs') && (
          <Link to={`/projects/${encodeURIComponent(project)}/import`} className="button button--primary">
            Import from Git
          </Link>
        )}
      </div>
      {error && (
        <Alert
          title="Cannot show the apps"
          action={
            <button type="button" className="button button--secondary" onClick={deployments.reload}>
              Try again
            </button>
          }
        >
          {error}
        </Alert>
      )}
      {loaded && apps.length === 0 && (
        <div className="empty">
          <h3>No apps yet</h3>
          <p>
            An app is a Deployment: create one with <code>slip</code>
            {resources?.has('buildconfigs') ? (
              <>
                , or <Link to={`/projects/${encodeURIComponent(project)}/import`}>import one from Git</Link>
              </>
            ) : null}
            .
          </p>
        </div>
      )}
      {shown.length > 0 && (
        <VirtualTable
          label="Apps"
          columns={columns}
          items={shown}
          rowKey={(a) => a.name}
          rowHeight={rowHeight}
          maxHeight={rowHeight * 12}
          renderRow={(a) => <AppRow {...a} project={project} showBuild={hasBuilds} />}
        />
      )}
    </section>
  );
}

type AppRowProps = AppSummary & { project: string; showBuild: boolean };

/** AppRow is memoised on plain values: it re-renders only when its app changes. */
const AppRow = memo(function AppRow(props: AppRowProps) {
  const { project, name, desired, ready, state, rolling, updated, buildName, buildPhase, urls, showBuild } = props;
  const base = `/projects/${encodeURIComponent(project)}/apps/${encodeURIComponent(name)}`;
  return (
    <>
      <div role="rowheader" className="vtable__cell vtable__name">
        <Link to={base}>{name}</Link>
      </div>
      <div role="cell" className="vtable__cell">
        <span className="pods" aria-label={`${ready} of ${desired} pods ready`}>
          <PodBar ready={ready} desired={desired} />
          {ready}/{desired}
        </span>
      </div>
      <div role="cell" className="vtable__cell">
        <span className={`label label--${state.toLowerCase().replaceAll(' ', '-')}`}>{state}</span>
        {rolling && (
          <span className="vtable__secondary">
            {updated}/{desired} updated
          </span>
        )}
      </div>
      {showBuild && (
        <div role="cell" className="vtable__cell">
          {buildName ? (
            <Link to={`${base}/builds`} className="vtable__build">
              {buildName} <span className={`label label--${buildPhase.toLowerCase()}`}>{buildPhase}</span>
            </Link>
          ) : (
            <span className="muted">No builds</span>
          )}
        </div>
      )}
      <div role="cell" className="vtable__cell vtable__urls">
        {urls ? (
          urls.split(' ').map((url) => (
            <a key={url} href={url} target="_blank" rel="noreferrer">
              {url}
            </a>
          ))
        ) : (
          <span className="muted">No route</span>
        )}
      </div>
    </>
  );
});

function PodBar({ ready, desired }: { ready: number; desired: number }) {
  const pct = desired === 0 ? 0 : Math.min(100, Math.round((ready / desired) * 100));
  return (
    <span className="podbar" aria-hidden="true">
      <span className="podbar__fill" style={{ width: `${pct}%` }} />
    </span>
  );
}
