import { useRef, useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import { setContainers } from '../api/resources';
import type { Deployment } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { TableHead } from '../components/TableHead';
import { toEnv, validateEnv, type EnvRow } from './env';

let nextId = 1;
function rowsOf(deployment: Deployment, container: number): EnvRow[] {
  return (deployment.spec.template.spec.containers[container]?.env ?? []).map((e) => ({ id: nextId++, name: e.name, value: e.value }));
}

/**
 * EnvTab edits a container's environment. Saving sends a merge patch of the
 * template's containers, on condition of the version edited: a change made
 * meanwhile by someone else is reported rather than overwritten.
 */
export function EnvTab({ project, deployment }: { project: string; deployment: Deployment }) {
  const client = useApi();
  const containers = deployment.spec.template.spec.containers;
  const [container, setContainer] = useState(0);
  const [base, setBase] = useState(deployment);
  const [rows, setRows] = useState<EnvRow[]>(() => rowsOf(deployment, 0));
  const [problems, setProblems] = useState<Map<number, string>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const changedElsewhere = base.metadata.resourceVersion !== deployment.metadata.resourceVersion &&
    JSON.stringify(base.spec.template.spec.containers[container]?.env ?? []) !== JSON.stringify(deployment.spec.template.spec.containers[container]?.env ?? []);

  const reset = (d: Deployment, index: number) => {
    setBase(d);
    setRows(rowsOf(d, index));
    setProblems(new Map());
    setError(null);
  };

  const update = (id: number, field: 'name' | 'value', value: string) => setRows((rs) => rs.map((r) => (r.id === id ? { ...r, [field]: value } : r)));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setNotice(null);
    const found = validateEnv(rows);
    setProblems(found);
    if (found.size > 0) {
      form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      return;
    }
    const next = base.spec.template.spec.containers.map((c, i) => (i === container ? { ...c, env: toEnv(rows) } : c));
    setSending(true);
    try {
      const saved = await setContainers(client, project, base, next);
      setBase(saved);
      setNotice('Saved: the app rolls out with the new environment.');
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setSending(false);
    }
  };

  return (
    <section aria-labelledby="env-heading" className="page__section">
      <h2 id="env-heading">Environment</h2>
      {containers.length > 1 && (
        <label className="field">
          <span className="field__label">Container</span>
          <select value={container} onChange={(e) => { setContainer(Number(e.target.value)); reset(deployment, Number(e.target.value)); }}>
            {containers.map((c, i) => (
              <option key={c.name} value={i}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {changedElsewhere && (
        <Alert
          variant="info"
          action={
            <button type="button" className="button button--secondary" onClick={() => reset(deployment, container)}>
              Load the new values
            </button>
          }
        >
          The environment was changed elsewhere since you opened it.
        </Alert>
      )}
      <form ref={form} className="form" aria-label="Environment variables" onSubmit={(e) => void submit(e)} noValidate>
        <table className="table table--form" aria-label="Variables">
          <TableHead columns={['Name', 'Value']} actions />
          <tbody>
            {rows.map((row, i) => {
              const problem = problems.get(row.id);
              return (
                <tr key={row.id}>
                  <td>
                    <input
                      aria-label={`Name of variable ${i + 1}`}
                      className="input mono"
                      value={row.name}
                      aria-invalid={problem ? true : undefined}
                      aria-describedby={problem ? `env-problem-${row.id}` : undefined}
                      onChange={(e) => update(row.id, 'name', e.target.value)}
                    />
                    {problem && (
                      <p id={`env-problem-${row.id}`} className="field__error">
                        {problem}
                      </p>
                    )}
                  </td>
                  <td>
                    <input aria-label={`Value of variable ${i + 1}`} className="input mono" value={row.value} onChange={(e) => update(row.id, 'value', e.target.value)} />
                  </td>
                  <td className="table__actions">
                    <button type="button" className="button button--plain button--danger-text" aria-label={`Remove variable ${row.name || i + 1}`} onClick={() => setRows((rs) => rs.filter((r) => r.id !== row.id))}>
                      Remove
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <div className="form__actions">
          <button type="button" className="button button--secondary" onClick={() => setRows((rs) => [...rs, { id: nextId++, name: '', value: '' }])}>
            Add variable
          </button>
          <button type="submit" className="button button--primary" disabled={sending}>
            {sending ? 'Saving…' : 'Save'}
          </button>
        </div>
        {error && <Alert title="Cannot save the environment">{error}</Alert>}
        {notice && <Alert variant="success">{notice}</Alert>}
      </form>
    </section>
  );
}
