import { projectPath } from '../api/resources';
import type { Build } from '../api/types';
import { LogViewer } from '../logs/LogViewer';

/**
 * BuildLog follows a build's log (…/builds/{name}/log) once its pod runs;
 * before that it says what the build waits for.
 */
export function BuildLog({ project, build }: { project: string; build: Build }) {
  const phase = build.status?.phase ?? 'New';
  if (phase === 'New' || phase === 'Pending') {
    return (
      <p className="muted" role="status">
        Build {build.metadata.name} is {phase === 'New' ? 'waiting to be scheduled' : 'starting'}
        {build.status?.message ? `: ${build.status.message}` : ''}. Its log appears here when it runs.
      </p>
    );
  }
  if (!build.status?.startTimestamp && ['Cancelled', 'Error', 'Failed'].includes(phase)) {
    return (
      <p className="muted" role="status">
        Build {build.metadata.name} ended ({phase}) before it ran, so it has no log{build.status?.message ? `: ${build.status.message}` : '.'}
      </p>
    );
  }
  // Remounted when the phase changes: a finished build's log is read whole.
  return <LogViewer key={`${build.metadata.name}/${phase}`} path={projectPath(project, 'builds', build.metadata.name, 'log')} name={build.metadata.name} />;
}
