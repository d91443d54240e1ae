import { useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import { deleteProject } from '../api/projects';
import type { Project } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { Dialog } from '../components/Dialog';
import { Field } from '../components/Field';

export interface DeleteProjectDialogProps {
  /** The project to delete; null keeps the dialog closed. */
  project: Project | null;
  onClose: () => void;
  onDeleted: (name: string) => void;
}

/**
 * DeleteProjectDialog asks the person to type the project's name: deleting
 * a project deletes everything in it.
 */
export function DeleteProjectDialog({ project, onClose, onDeleted }: DeleteProjectDialogProps) {
  return (
    <Dialog
      open={project !== null}
      title="Delete project?"
      onClose={onClose}
      description={
        project && (
          <p>
            Deleting <strong>{project.metadata.name}</strong> deletes everything in it: applications, builds, images, routes and
            secrets. This cannot be undone.
          </p>
        )
      }
    >
      {project && <DeleteProjectForm key={project.metadata.name} name={project.metadata.name} onCancel={onClose} onDeleted={onDeleted} />}
    </Dialog>
  );
}

function DeleteProjectForm({ name, onCancel, onDeleted }: { name: string; onCancel: () => void; onDeleted: (name: string) => void }) {
  const client = useApi();
  const [typed, setTyped] = useState('');
  const [failure, setFailure] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const confirmed = typed === name;

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!confirmed || submitting) return;
    setSubmitting(true);
    setFailure(null);
    try {
      await deleteProject(client, name);
      onDeleted(name);
    } catch (failed) {
      setFailure(describeError(failed));
      setSubmitting(false);
    }
  };

  return (
    <form className="form" onSubmit={(event) => void submit(event)} noValidate aria-label={`Delete project ${name}`}>
      <Field label={`Type ${name} to confirm`}>
        {(control) => (
          <input
            {...control}
            data-autofocus
            name="confirm"
            type="text"
            autoCapitalize="none"
            autoComplete="off"
            spellCheck={false}
            value={typed}
            onChange={(event) => setTyped(event.target.value)}
          />
        )}
      </Field>
      {failure && <Alert title="The project was not deleted">{failure}</Alert>}
      <div className="form__actions">
        <button type="submit" className="button button--danger" disabled={!confirmed || submitting}>
          {submitting ? 'Deleting…' : 'Delete'}
        </button>
        <button type="button" className="button button--secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
