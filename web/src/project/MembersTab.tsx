import { useMemo, useRef, useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import { grantRole, projectPath, revokeRole } from '../api/resources';
import type { RoleBinding, Subject, SubjectKind } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { Field } from '../components/Field';
import { LiveIndicator } from '../components/LiveIndicator';
import { TableHead } from '../components/TableHead';
import { sortedByName } from '../live/collection';
import { useLiveCollection } from '../live/useLiveCollection';
import { suggestName, validateName } from '../projects/validation';

export const projectRoles = [
  { name: 'admin', text: 'Admin: everything in the project, including members' },
  { name: 'edit', text: 'Edit: create and change apps, builds and routes' },
  { name: 'view', text: 'View: see everything except secrets' },
] as const;

export interface Member {
  key: string;
  subject: Subject;
  role: string;
  binding: RoleBinding;
}

/** members flattens bindings to one row per subject and role. */
export function members(bindings: readonly RoleBinding[]): Member[] {
  const out: Member[] = [];
  for (const binding of bindings) {
    for (const subject of binding.spec.subjects) {
      const who = subject.kind === 'ServiceAccount' ? `${subject.project ?? ''}:${subject.name}` : subject.name;
      out.push({ key: `${binding.metadata.name}/${subject.kind}/${who}`, subject, role: binding.spec.roleRef.name, binding });
    }
  }
  return out.sort((a, b) => a.subject.name.localeCompare(b.subject.name) || a.role.localeCompare(b.role));
}

/** validateSubject checks a user or group name before it is sent. */
export function validateSubject(kind: SubjectKind, name: string): string | null {
  const trimmed = name.trim();
  if (trimmed === '') return `Enter the ${kind === 'User' ? 'user' : 'group'}’s name.`;
  if (kind === 'Group') return trimmed.length > 253 ? 'Use at most 253 characters.' : null;
  const problem = validateName(trimmed);
  return problem ? `Not a valid user name. ${problem}` : null;
}

/** MembersTab lists who holds which role in the project, and grants and revokes roles. */
export function MembersTab({ project }: { project: string }) {
  const client = useApi();
  const bindings = useLiveCollection<RoleBinding>(client, projectPath(project, 'rolebindings'));
  const rows = useMemo(() => members(sortedByName(bindings.state.byName)), [bindings.state.byName]);
  const [rowError, setRowError] = useState<{ key: string; message: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const revoke = async (member: Member) => {
    setBusy(member.key);
    setRowError(null);
    try {
      await revokeRole(client, project, member.binding, member.subject);
    } catch (error) {
      setRowError({ key: member.key, message: describeError(error) });
    } finally {
      setBusy(null);
    }
  };

  if (bindings.forbidden) {
    return (
      <section className="page__section" aria-labelledby="members-heading">
        <h2 id="members-heading">Members</h2>
        <Alert variant="info">Only the project’s admins can see and change its members.</Alert>
      </section>
    );
  }

  return (
    <section className="page__section" aria-labelledby="members-heading">
      <div className="section__header">
        <h2 id="members-heading">Members</h2>
        <LiveIndicator state={bindings.watchState} />
      </div>
      {bindings.error && <Alert title="Cannot list members">{bindings.error}</Alert>}
      <GrantForm project={project} />
      <table className="table" aria-label="Members">
        <TableHead columns={['Name', 'Kind', 'Role']} actions />
        <tbody>
          {rows.map((m) => (
            <tr key={m.key} data-member={`${m.subject.kind}:${m.subject.name}:${m.role}`}>
              <th scope="row">{m.subject.kind === 'ServiceAccount' ? `${m.subject.project}/${m.subject.name}` : m.subject.name}</th>
              <td>{m.subject.kind}</td>
              <td>
                <span className="label">{m.role}</span>
              </td>
              <td className="table__actions">
                {rowError?.key === m.key && (
                  <span className="inline-error" role="alert">
                    {rowError.message}
                  </span>
                )}
                <button
                  type="button"
                  className="button button--plain button--danger-text"
                  disabled={busy === m.key}
                  onClick={() => void revoke(m)}
                  aria-label={`Revoke ${m.role} from ${m.subject.kind.toLowerCase()} ${m.subject.name}`}
                >
                  {busy === m.key ? 'Revoking…' : 'Revoke'}
                </button>
              </td>
            </tr>
          ))}
          {bindings.state.loaded && rows.length === 0 && (
            <tr>
              <td colSpan={4} className="muted">
                No one holds a role in this project.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function GrantForm({ project }: { project: string }) {
  const client = useApi();
  const [kind, setKind] = useState<SubjectKind>('User');
  const [name, setName] = useState('');
  const [role, setRole] = useState('view');
  const [nameError, setNameError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setNotice(null);
    const problem = validateSubject(kind, name);
    setNameError(problem);
    if (problem) {
      nameRef.current?.focus();
      return;
    }
    const who = name.trim();
    const bindingName = `${role}-${kind.toLowerCase()}-${suggestName(who).slice(0, 40) || 'subject'}-${Math.random().toString(36).slice(2, 7)}`;
    setSending(true);
    try {
      await grantRole(client, project, bindingName, role, { kind, name: who });
      setNotice(`${kind === 'User' ? 'User' : 'Group'} ${who} is now ${role} of ${project}.`);
      setName('');
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setSending(false);
    }
  };

  return (
    <form className="inline-form" aria-label="Grant a role" onSubmit={(e) => void submit(e)} noValidate>
      <Field label="Kind">
        {(control) => (
          <select {...control} value={kind} onChange={(e) => setKind(e.target.value as SubjectKind)}>
            <option value="User">User</option>
            <option value="Group">Group</option>
          </select>
        )}
      </Field>
      <Field label={kind === 'User' ? 'User name' : 'Group name'} error={nameError} required>
        {(control) => <input {...control} ref={nameRef} value={name} autoComplete="off" onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Role">
        {(control) => (
          <select {...control} value={role} onChange={(e) => setRole(e.target.value)}>
            {projectRoles.map((r) => (
              <option key={r.name} value={r.name}>
                {r.text}
              </option>
            ))}
          </select>
        )}
      </Field>
      <div className="inline-form__actions">
        <button type="submit" className="button button--primary" disabled={sending}>
          {sending ? 'Granting…' : 'Grant'}
        </button>
      </div>
      {error && (
        <div className="inline-form__message">
          <Alert title="Cannot grant the role">{error}</Alert>
        </div>
      )}
      {notice && (
        <div className="inline-form__message">
          <Alert variant="success">{notice}</Alert>
        </div>
      )}
    </form>
  );
}
