import { useMemo } from 'react';
import { deploymentLabel, projectPath } from '../api/resources';
import type { Deployment } from '../api/types';
import { Link, useSearchParam } from '../app/router';
import { useApi } from '../auth/AuthContext';
import { EnvTab } from '../apps/EnvTab';
import { BuildsTab } from '../builds/BuildsTab';
import { useDiscovery } from '../live/useDiscovery';
import { HistoryTab } from '../apps/HistoryTab';
import { PodsTab } from '../apps/PodsTab';
import { LogsTab } from '../apps/LogsTab';
import { RoutesTab } from '../apps/RoutesTab';
import { ScaleControl } from '../apps/ScaleControl';
import { Alert } from '../components/Alert';
import { LiveIndicator } from '../components/LiveIndicator';
import { PageTitle } from '../components/PageTitle';
import { useLiveCollection } from '../live/useLiveCollection';
import { appState } from '../project/apps';
import { TabLinks } from './ProjectPage';

export type AppTab = 'pods' | 'logs' | 'history' | 'environment' | 'routes' | 'builds';

const tabs: { id: AppTab; label: string; suffix: string }[] = [
  { id: 'pods', label: 'Pods', suffix: '' },
  { id: 'logs', label: 'Logs', suffix: '/logs' },
  { id: 'history', label: 'Rollouts', suffix: '/history' },
  { id: 'environment', label: 'Environment', suffix: '/environment' },
  { id: 'routes', label: 'Routes', suffix: '/routes' },
  { id: 'builds', label: 'Builds', suffix: '/builds' },
];

export function isAppTab(tab: string): tab is AppTab {
  return tabs.some((t) => t.id === tab);
}

/** AppPage is one app (Deployment): its pods, logs, rollouts, environment and routes. */
export function AppPage({ project, app, tab }: { project: string; app: string; tab: AppTab }) {
  const client = useApi();
  const deployments = useLiveCollection<Deployment>(client, projectPath(project, 'deployments'));
  const deployment = deployments.state.byName.get(app);
  const base = `/projects/${encodeURIComponent(project)}/apps/${encodeURIComponent(app)}`;
  const selector = useMemo(() => `${deploymentLabel}=${app}`, [app]);
  const pod = useSearchParam('pod');
  const resources = useDiscovery(client);
  const hasBuilds = resources?.has('buildconfigs') ?? false;
  const shownTabs = hasBuilds ? tabs : tabs.filter((t) => t.id !== 'builds');

  return (
    <section className="page__section">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/projects">Projects</Link>
        <span aria-hidden="true">/</span>
        <Link to={`/projects/${encodeURIComponent(project)}`}>{project}</Link>
        <span aria-hidden="true">/</span>
        <span>{app}</span>
      </nav>
      <div className="page__header">
        <div className="page__title-group">
          <PageTitle title={`${app} · ${project}`}>{app}</PageTitle>
          {deployment && <span className={`label label--${appState(deployment).toLowerCase().replaceAll(' ', '-')}`}>{appState(deployment)}</span>}
        </div>
        <LiveIndicator state={deployments.watchState} />
      </div>
      {deployments.error && <Alert title="Cannot read the app">{deployments.error}</Alert>}
      {deployments.state.loaded && !deployment && (
        <Alert variant="info">
          There is no app {app} in {project} (any more). <Link to={`/projects/${encodeURIComponent(project)}`}>Back to the project</Link>
        </Alert>
      )}
      {deployment && (
        <>
          <div className="summary">
            <div>
              <span className="summary__label">Image</span>
              <span className="summary__value mono">{deployment.spec.template.spec.containers.map((c) => c.image).join(', ')}</span>
            </div>
            <ScaleControl project={project} deployment={deployment} />
          </div>
          <TabLinks label="App sections" base={base} tabs={shownTabs} current={tab} />
          {tab === 'pods' && <PodsTab project={project} selector={selector} logsBase={`${base}/logs`} />}
          {tab === 'logs' && <LogsTab project={project} selector={selector} pod={pod} base={`${base}/logs`} />}
          {tab === 'history' && <HistoryTab project={project} deployment={deployment} selector={selector} />}
          {tab === 'environment' && <EnvTab key={deployment.metadata.uid} project={project} deployment={deployment} />}
          {tab === 'routes' && <RoutesTab project={project} deployment={deployment} />}
          {tab === 'builds' && resources && (hasBuilds ? <BuildsTab project={project} deployment={deployment} /> : <p className="muted">This server runs no builds.</p>)}
        </>
      )}
    </section>
  );
}
