import { useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import { createProject } from '../api/projects';
import type { Project } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { Dialog } from '../components/Dialog';
import { Field } from '../components/Field';
import { maxNameLength, suggestName, validateProjectName } from './validation';

export interface CreateProjectDialogProps {
  open: boolean;
  onClose: () => void;
  onCreated: (project: Project) => void;
}

export function CreateProjectDialog({ open, onClose, onCreated }: CreateProjectDialogProps) {
  return (
    <Dialog open={open} title="Create a project" onClose={onClose}>
      {open && <CreateProjectForm onCancel={onClose} onCreated={onCreated} />}
    </Dialog>
  );
}

/** CreateProjectForm checks the name as the server would before it asks. */
export function CreateProjectForm({ onCancel, onCreated }: { onCancel: () => void; onCreated: (project: Project) => void }) {
  const client = useApi();
  const [name, setName] = useState('');
  const [nameEdited, setNameEdited] = useState(false);
  const [displayName, setDisplayName] = useState('');
  const [description, setDescription] = useState('');
  const [nameError, setNameError] = useState<string | null>(null);
  const [touched, setTouched] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);

  const changeName = (value: string) => {
    setName(value);
    setNameEdited(true);
    if (touched) setNameError(validateProjectName(value));
  };

  const changeDisplayName = (value: string) => {
    setDisplayName(value);
    if (!nameEdited) {
      const suggested = suggestName(value);
      setName(suggested);
      if (touched) setNameError(validateProjectName(suggested));
    }
  };

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (submitting) return;
    setTouched(true);
    const error = validateProjectName(name);
    setNameError(error);
    setFailure(null);
    if (error) {
      event.currentTarget.querySelector<HTMLInputElement>('input[name="name"]')?.focus();
      return;
    }
    setSubmitting(true);
    try {
      const project = await createProject(client, { name, displayName, description });
      onCreated(project);
    } catch (failed) {
      setFailure(describeError(failed));
      setSubmitting(false);
    }
  };

  return (
    <form className="form" onSubmit={(event) => void submit(event)} noValidate aria-label="New project">
      <Field label="Display name" help="Optional: how the project is shown in the console.">
        {(control) => (
          <input
            {...control}
            data-autofocus
            name="displayName"
            type="text"
            maxLength={256}
            value={displayName}
            onChange={(event) => changeDisplayName(event.target.value)}
          />
        )}
      </Field>
      <Field
        label="Name"
        required
        error={nameError}
        help={`Lower-case letters, digits and '-', at most ${maxNameLength} characters. It cannot be changed later.`}
      >
        {(control) => (
          <input
            {...control}
            name="name"
            type="text"
            autoCapitalize="none"
            autoComplete="off"
            spellCheck={false}
            value={name}
            onChange={(event) => changeName(event.target.value)}
            onBlur={() => {
              if (name !== '') {
                setTouched(true);
                setNameError(validateProjectName(name));
              }
            }}
          />
        )}
      </Field>
      <Field label="Description" help="Optional.">
        {(control) => (
          <textarea
            {...control}
            name="description"
            rows={3}
            maxLength={4096}
            value={description}
            onChange={(event) => setDescription(event.target.value)}
          />
        )}
      </Field>
      {failure && <Alert title="The project was not created">{failure}</Alert>}
      <div className="form__actions">
        <button type="submit" className="button button--primary" disabled={submitting}>
          {submitting ? 'Creating…' : 'Create'}
        </button>
        <button type="button" className="button button--secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
