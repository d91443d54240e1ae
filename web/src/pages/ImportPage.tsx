import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { appName, builders, guessBuilder, importObjects, registryHost, splitGitURL, validateGitURL, type Builder, type ImportObjects } from '../api/builds';
import { describeError } from '../api/errors';
import { projectPath } from '../api/resources';
import type { ApiObject, Build, Deployment, Route } from '../api/types';
import { Link } from '../app/router';
import { useApi } from '../auth/AuthContext';
import { BuildLog } from '../builds/BuildLog';
import { parseEnv, validateImport, type ImportForm, type ImportProblems } from '../builds/importForm';
import { Alert } from '../components/Alert';
import { Field } from '../components/Field';
import { PageTitle } from '../components/PageTitle';
import { useLiveCollection } from '../live/useLiveCollection';
import { buildConfigLabel, buildNumber, routeURLs } from '../project/apps';

type StepState = 'waiting' | 'creating' | 'done' | 'failed';
interface Step {
  kind: string;
  resource: string;
  object: ApiObject;
  state: StepState;
  error?: string;
}

const builderLabels: Record<Builder, string> = { static: 'Static site (HTML, CSS, JS)', go: 'Go', python: 'Python' };

/**
 * ImportPage turns a Git repository into a running app: a BuildConfig, a
 * Deployment following its image, a Service and a Route, created in that
 * order (the BuildConfig last: its first build starts at once); then it
 * follows the first build's log and ends with the app's URL.
 */
export function ImportPage({ project }: { project: string }) {
  const client = useApi();
  const [form, setForm] = useState<ImportForm>({ gitURL: '', name: '', builder: 'static', contextDir: '', port: '8080', env: '', route: true, routeHost: '' });
  const [touched, setTouched] = useState({ name: false, builder: false });
  const [problems, setProblems] = useState<ImportProblems>({});
  const [steps, setSteps] = useState<Step[] | null>(null);
  const [running, setRunning] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  const created = steps !== null && steps.every((s) => s.state === 'done');
  const projectURL = `/projects/${encodeURIComponent(project)}`;

  // The server looks inside the repository (as slip new-app does) and
  // names the builder; until it answers, the URL's words decide.
  const [detection, setDetection] = useState('');
  const builderTouched = useRef(false);
  builderTouched.current = touched.builder;
  useEffect(() => {
    const { uri, ref } = splitGitURL(form.gitURL);
    if (validateGitURL(uri) !== null) {
      setDetection('');
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      setDetection('Looking inside the repository…');
      client
        .post<{ builder: string; file: string }>(
          projectPath(project, 'builderdetections'),
          { git: { uri, ref: ref || undefined }, contextDir: form.contextDir.trim() || undefined },
          { signal: controller.signal },
        )
        .then((found) => {
          if (!(builders as readonly string[]).includes(found.builder)) {
            setDetection(`The repository looks like ${found.builder} (${found.file}), which no builder of Slipway builds: choose one.`);
            return;
          }
          if (!builderTouched.current) setForm((f) => ({ ...f, builder: found.builder as Builder }));
          setDetection(`Detected from ${found.file} in the repository.`);
        })
        .catch((error: unknown) => {
          if (!controller.signal.aborted) setDetection(`Not detected (${describeError(error)}): choose it.`);
        });
    }, 600);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [client, project, form.gitURL, form.contextDir]);

  const setGitURL = (gitURL: string) =>
    setForm((f) => {
      const { uri } = splitGitURL(gitURL);
      return { ...f, gitURL, name: touched.name ? f.name : uri ? appName(uri) : '', builder: touched.builder ? f.builder : guessBuilder(uri) };
    });

  const run = async (list: Step[]) => {
    setRunning(true);
    const next = [...list];
    for (let i = 0; i < next.length; i++) {
      const step = next[i]!;
      if (step.state === 'done') continue;
      next[i] = { ...step, state: 'creating', error: undefined };
      setSteps([...next]);
      try {
        await client.post(projectPath(project, step.resource), step.object);
        next[i] = { ...step, state: 'done' };
        setSteps([...next]);
      } catch (error) {
        next[i] = { ...step, state: 'failed', error: describeError(error) };
        setSteps([...next]);
        break;
      }
    }
    setRunning(false);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = validateImport(form);
    setProblems(found);
    if (Object.keys(found).length > 0) {
      requestAnimationFrame(() => formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      return;
    }
    const objects: ImportObjects = importObjects({
      project,
      name: form.name,
      gitURL: form.gitURL.trim(),
      contextDir: form.contextDir,
      builder: form.builder,
      port: Number(form.port),
      env: parseEnv(form.env).env,
      route: form.route,
      routeHost: form.routeHost,
      registryHost: registryHost(window.location),
    });
    const list: Step[] = [
      { kind: 'Deployment', resource: 'deployments', object: objects.deployment, state: 'waiting' },
      { kind: 'Service', resource: 'services', object: objects.service, state: 'waiting' },
      ...(objects.route ? [{ kind: 'Route', resource: 'routes', object: objects.route, state: 'waiting' as const }] : []),
      { kind: 'BuildConfig', resource: 'buildconfigs', object: objects.buildConfig, state: 'waiting' },
    ];
    void run(list);
  };

  const set = <K extends keyof ImportForm>(key: K, value: ImportForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const locked = steps !== null;

  return (
    <section className="page__section page__section--narrow">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/projects">Projects</Link>
        <span aria-hidden="true">/</span>
        <Link to={projectURL}>{project}</Link>
        <span aria-hidden="true">/</span>
        <span>Import from Git</span>
      </nav>
      <PageTitle title={`Import from Git · ${project}`}>Import from Git</PageTitle>
      <form ref={formRef} className="form card" aria-label="Import from Git" onSubmit={submit} noValidate>
        <fieldset className="fieldset" disabled={locked}>
          <Field label="Git repository URL" error={problems.gitURL} required help="https://…, ssh://…, git@host:path or file://…; add #branch to build another branch.">
            {(c) => <input {...c} value={form.gitURL} onChange={(e) => setGitURL(e.target.value)} placeholder="https://github.com/shop/web.git" autoComplete="off" data-autofocus />}
          </Field>
          <Field label="Builder" help={<span data-testid="builder-detection">{detection || 'Detected from the repository once its URL is entered.'}</span>}>
            {(c) => (
              <select
                {...c}
                value={form.builder}
                onChange={(e) => {
                  setTouched((t) => ({ ...t, builder: true }));
                  set('builder', e.target.value as Builder);
                }}
              >
                {builders.map((b) => (
                  <option key={b} value={b}>
                    {builderLabels[b]} — slipway-system/s2i-{b}:latest
                  </option>
                ))}
              </select>
            )}
          </Field>
          <div className="form__grid">
            <Field label="Name" error={problems.name} required help="Of the app, its build configuration, service and route.">
              {(c) => (
                <input
                  {...c}
                  value={form.name}
                  autoComplete="off"
                  onChange={(e) => {
                    setTouched((t) => ({ ...t, name: true }));
                    set('name', e.target.value);
                  }}
                />
              )}
            </Field>
            <Field label="Port" error={problems.port} help="The port the app listens on.">
              {(c) => <input {...c} inputMode="numeric" value={form.port} onChange={(e) => set('port', e.target.value)} />}
            </Field>
            <Field label="Context directory" error={problems.contextDir} help="Optional: build a sub-directory.">
              {(c) => <input {...c} value={form.contextDir} onChange={(e) => set('contextDir', e.target.value)} autoComplete="off" />}
            </Field>
          </div>
          <Field label="Environment variables" error={problems.env} help="Optional: one NAME=value a line.">
            {(c) => <textarea {...c} rows={3} className="mono" value={form.env} onChange={(e) => set('env', e.target.value)} />}
          </Field>
          <label className="checkbox">
            <input type="checkbox" checked={form.route} onChange={(e) => set('route', e.target.checked)} />
            Give the app a URL (an HTTPS route)
          </label>
          {form.route && (
            <Field label="Route host" error={problems.routeHost} help="Optional: the router picks one when empty.">
              {(c) => <input {...c} value={form.routeHost} onChange={(e) => set('routeHost', e.target.value)} placeholder="shop.apps.example.com" autoComplete="off" />}
            </Field>
          )}
        </fieldset>
        {!locked && (
          <div className="form__actions">
            <button type="submit" className="button button--primary">
              Create
            </button>
            <Link to={projectURL} className="button button--secondary">
              Cancel
            </Link>
          </div>
        )}
      </form>

      {steps && (
        <div className="card" aria-labelledby="import-steps">
          <h2 id="import-steps">Creating</h2>
          <ol className="steps">
            {steps.map((s, i) => (
              <li key={s.kind} className={`steps__step steps__step--${s.state}`} data-step={s.kind}>
                <span className="steps__icon" aria-hidden="true">
                  {s.state === 'done' ? '✓' : s.state === 'failed' ? '!' : s.state === 'creating' ? '…' : i + 1}
                </span>
                <span>
                  {s.kind} {s.object.metadata.name}: {s.state === 'done' ? 'created' : s.state === 'creating' ? 'creating…' : s.state === 'failed' ? 'not created' : 'waiting'}
                </span>
                {s.error && (
                  <span className="inline-error" role="alert">
                    {s.error}
                  </span>
                )}
              </li>
            ))}
          </ol>
          {!running && steps.some((s) => s.state === 'failed') && (
            <div className="form__actions">
              <button type="button" className="button button--primary" onClick={() => void run(steps)}>
                Try again
              </button>
              <button type="button" className="button button--secondary" onClick={() => setSteps(null)}>
                Change the form
              </button>
            </div>
          )}
        </div>
      )}
      {created && <ImportProgress project={project} name={form.name} />}
    </section>
  );
}

/** ImportProgress follows the first build, the rollout and the route to the app's URL. */
function ImportProgress({ project, name }: { project: string; name: string }) {
  const client = useApi();
  const builds = useLiveCollection<Build>(client, projectPath(project, 'builds'), { labelSelector: `${buildConfigLabel}=${name}` });
  const deployments = useLiveCollection<Deployment>(client, projectPath(project, 'deployments'));
  const routes = useLiveCollection<Route>(client, projectPath(project, 'routes'));
  const first = useMemo(() => [...builds.state.byName.values()].sort((a, b) => buildNumber(a) - buildNumber(b))[0], [builds.state.byName]);
  const deployment = deployments.state.byName.get(name);
  const route = routes.state.byName.get(name);
  const urls = route ? routeURLs(route) : [];
  const ready = deployment?.status?.readyReplicas ?? 0;
  const phase = first?.status?.phase ?? (first ? 'New' : null);
  const appURL = `/projects/${encodeURIComponent(project)}/apps/${encodeURIComponent(name)}`;

  return (
    <div className="card" aria-labelledby="import-progress">
      <h2 id="import-progress">Build and deploy</h2>
      <ol className="steps">
        <li className={`steps__step steps__step--${phase === 'Complete' ? 'done' : phase && ['Failed', 'Error', 'Cancelled'].includes(phase) ? 'failed' : 'creating'}`} data-step="build">
          <span className="steps__icon" aria-hidden="true">
            {phase === 'Complete' ? '✓' : '1'}
          </span>
          <span role="status">{first ? `Build ${first.metadata.name}: ${phase}` : 'Waiting for the first build…'}</span>
        </li>
        <li className={`steps__step steps__step--${ready > 0 ? 'done' : 'waiting'}`} data-step="rollout">
          <span className="steps__icon" aria-hidden="true">
            {ready > 0 ? '✓' : '2'}
          </span>
          <span>{ready > 0 ? `${ready} ${ready === 1 ? 'pod' : 'pods'} ready` : 'The app rolls out when the build has pushed its image'}</span>
        </li>
        <li className={`steps__step steps__step--${urls.length && ready > 0 ? 'done' : 'waiting'}`} data-step="url">
          <span className="steps__icon" aria-hidden="true">
            {urls.length && ready > 0 ? '✓' : '3'}
          </span>
          <span>
            {urls.length && ready > 0 ? (
              <>
                Your app is running at{' '}
                {urls.map((u) => (
                  <a key={u} href={u} target="_blank" rel="noreferrer" data-testid="app-url">
                    {u}
                  </a>
                ))}
              </>
            ) : route ? (
              urls.length ? `The route ${urls[0]} answers once a pod is ready` : 'Waiting for a router to admit the route'
            ) : (
              <>
                No route: give the app a URL on its <Link to={`${appURL}/routes`}>Routes</Link> tab.
              </>
            )}
          </span>
        </li>
      </ol>
      {phase && ['Failed', 'Error'].includes(phase) && (
        <Alert title="The build failed">
          {first?.status?.message || 'See its log below.'} Fix the repository or the builder and start another build on the app’s <Link to={`${appURL}/builds`}>Builds</Link> tab.
        </Alert>
      )}
      {first && <BuildLog project={project} build={first} />}
      <p>
        <Link to={appURL}>Open the app’s page</Link>
      </p>
    </div>
  );
}
