import { useMemo, useRef, useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import { createRoute, projectPath, type NewRoute } from '../api/resources';
import type { Deployment, Route, Service } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { Field } from '../components/Field';
import { TableHead } from '../components/TableHead';
import { sortedByName } from '../live/collection';
import { useLiveCollection } from '../live/useLiveCollection';
import { admission, routeURLs, servicesOf } from '../project/apps';
import { validateName } from '../projects/validation';

const hostPattern = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function validateRoute(route: NewRoute): Partial<Record<keyof NewRoute, string>> {
  const problems: Partial<Record<keyof NewRoute, string>> = {};
  const name = validateName(route.name);
  if (name) problems.name = name;
  if (!route.service) problems.service = 'Choose the service the route sends traffic to.';
  const host = route.host.trim();
  if (host && !hostPattern.test(host)) problems.host = 'Enter a host name such as shop.apps.example.com (lower case, no scheme or path).';
  const port = route.targetPort.trim();
  if (port && !/^\d+$/.test(port) && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(port)) problems.targetPort = 'Enter a port number or the name of a service port.';
  if (port && /^\d+$/.test(port) && (Number(port) < 1 || Number(port) > 65535)) problems.targetPort = 'A port is between 1 and 65535.';
  return problems;
}

/** RoutesTab lists the routes to the app's services with their admission, and creates routes. */
export function RoutesTab({ project, deployment }: { project: string; deployment: Deployment }) {
  const client = useApi();
  const services = useLiveCollection<Service>(client, projectPath(project, 'services'));
  const routes = useLiveCollection<Route>(client, projectPath(project, 'routes'));
  const mine = useMemo(() => servicesOf(deployment, services.state.byName.values()), [deployment, services.state.byName]);
  const names = useMemo(() => new Set(mine.map((s) => s.metadata.name)), [mine]);
  const list = useMemo(() => sortedByName(routes.state.byName).filter((r) => names.has(r.spec.to.name)), [routes.state.byName, names]);

  return (
    <section aria-labelledby="routes-heading" className="page__section">
      <h2 id="routes-heading">Routes</h2>
      {(routes.error ?? services.error) && <Alert title="Cannot list the routes">{routes.error ?? services.error}</Alert>}
      <table className="table" aria-label="Routes">
        <TableHead columns={['Name', 'URL', 'Service', 'TLS', 'Admission']} />
        <tbody>
          {list.map((r) => {
            const a = admission(r);
            const urls = routeURLs(r);
            return (
              <tr key={r.metadata.name} data-route={r.metadata.name}>
                <th scope="row">{r.metadata.name}</th>
                <td>
                  {urls.length ? (
                    urls.map((u) => (
                      <a key={u} href={u} target="_blank" rel="noreferrer" className="block-link">
                        {u}
                      </a>
                    ))
                  ) : (
                    <span className="muted">{r.spec.host || 'No host yet'}</span>
                  )}
                </td>
                <td>{r.spec.to.name}</td>
                <td>{r.spec.tls?.termination ?? 'none'}</td>
                <td>
                  <span className={`label ${a.admitted === true ? 'label--active' : a.admitted === false ? 'label--failed' : 'label--pending'}`}>
                    {a.admitted === true ? 'Admitted' : a.admitted === false ? 'Refused' : 'Pending'}
                  </span>
                  <span className="table__secondary">{a.text}</span>
                </td>
              </tr>
            );
          })}
          {routes.state.loaded && list.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No route reaches this app yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {services.state.loaded && mine.length === 0 ? (
        <Alert variant="info">The app has no service yet: a route sends traffic to a service that selects the app’s pods.</Alert>
      ) : (
        <CreateRouteForm project={project} app={deployment.metadata.name} services={mine} onCreated={routes.put} />
      )}
    </section>
  );
}

function CreateRouteForm({ project, app, services, onCreated }: { project: string; app: string; services: Service[]; onCreated: (route: Route) => void }) {
  const client = useApi();
  const empty: NewRoute = { name: app, service: '', host: '', targetPort: '', termination: 'edge', insecurePolicy: 'Redirect' };
  const [route, setRoute] = useState<NewRoute>(empty);
  const [problems, setProblems] = useState<Partial<Record<keyof NewRoute, string>>>({});
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const service = route.service || services[0]?.metadata.name || '';
  const set = <K extends keyof NewRoute>(key: K, value: NewRoute[K]) => setRoute((r) => ({ ...r, [key]: value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setNotice(null);
    const next = { ...route, service };
    const found = validateRoute(next);
    setProblems(found);
    if (Object.keys(found).length > 0) {
      requestAnimationFrame(() => form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      return;
    }
    setSending(true);
    try {
      const created = await createRoute(client, project, next);
      onCreated(created);
      setNotice(`Route ${created.metadata.name} created; routers admit it in a moment.`);
      setRoute({ ...empty, name: '' });
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setSending(false);
    }
  };

  return (
    <form ref={form} className="form card" aria-label="Create a route" onSubmit={(e) => void submit(e)} noValidate>
      <h3>Create a route</h3>
      <div className="form__grid">
        <Field label="Name" error={problems.name} required>
          {(c) => <input {...c} value={route.name} onChange={(e) => set('name', e.target.value)} autoComplete="off" />}
        </Field>
        <Field label="Service" error={problems.service}>
          {(c) => (
            <select {...c} value={service} onChange={(e) => set('service', e.target.value)}>
              {services.map((s) => (
                <option key={s.metadata.name} value={s.metadata.name}>
                  {s.metadata.name} ({s.spec.ports.map((p) => p.port).join(', ')})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Host" error={problems.host} help="Optional: the router picks one when empty.">
          {(c) => <input {...c} value={route.host} onChange={(e) => set('host', e.target.value)} placeholder="shop.apps.example.com" autoComplete="off" />}
        </Field>
        <Field label="Target port" error={problems.targetPort} help="Optional: the service's first port when empty.">
          {(c) => <input {...c} value={route.targetPort} onChange={(e) => set('targetPort', e.target.value)} autoComplete="off" />}
        </Field>
        <Field label="TLS termination" help="Edge: the router holds the certificate. Passthrough: the app does TLS itself.">
          {(c) => (
            <select {...c} value={route.termination} onChange={(e) => set('termination', e.target.value as NewRoute['termination'])}>
              <option value="edge">Edge</option>
              <option value="passthrough">Passthrough</option>
              <option value="none">None (plain HTTP)</option>
            </select>
          )}
        </Field>
        {route.termination === 'edge' && (
          <Field label="Plain HTTP requests">
            {(c) => (
              <select {...c} value={route.insecurePolicy} onChange={(e) => set('insecurePolicy', e.target.value as NewRoute['insecurePolicy'])}>
                <option value="Redirect">Redirect to HTTPS</option>
                <option value="Allow">Allow</option>
                <option value="None">Refuse</option>
              </select>
            )}
          </Field>
        )}
      </div>
      <div className="form__actions">
        <button type="submit" className="button button--primary" disabled={sending}>
          {sending ? 'Creating…' : 'Create route'}
        </button>
      </div>
      {error && <Alert title="Cannot create the route">{error}</Alert>}
      {notice && <Alert variant="success">{notice}</Alert>}
    </form>
  );
}
