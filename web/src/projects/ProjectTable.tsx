import type { Project } from '../api/types';
import { Link } from '../app/router';
import { RelativeTime } from '../components/RelativeTime';
import { TableHead } from '../components/TableHead';
import { isTerminating } from './store';

export interface ProjectTableProps {
  projects: readonly Project[];
  onDelete: (project: Project) => void;
}

/** ProjectTable lists projects, one row each, with their actions. */
export function ProjectTable({ projects, onDelete }: ProjectTableProps) {
  return (
    <table className="table" aria-label="Projects">
      <TableHead columns={['Name', 'Description', 'Status', 'Created']} actions />
      <tbody>
        {projects.map((project) => {
          const name = project.metadata.name;
          const terminating = isTerminating(project);
          return (
            <tr key={name} data-project={name}>
              <th scope="row" className="table__name">
                <Link to={`/projects/${encodeURIComponent(name)}`} className="table__primary">
                  {project.spec.displayName || name}
                </Link>
                {project.spec.displayName && <span className="table__secondary">{name}</span>}
              </th>
              <td className="table__description">{project.spec.description || <span className="muted">—</span>}</td>
              <td>
                <PhaseLabel phase={terminating ? 'Terminating' : (project.status?.phase ?? 'Pending')} />
              </td>
              <td>
                <RelativeTime timestamp={project.metadata.creationTimestamp} />
              </td>
              <td className="table__actions">
                <button
                  type="button"
                  className="button button--plain button--danger-text"
                  onClick={() => onDelete(project)}
                  disabled={terminating}
                  aria-label={`Delete project ${name}`}
                >
                  Delete
                </button>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function PhaseLabel({ phase }: { phase: string }) {
  return <span className={`label label--${phase.toLowerCase()}`}>{phase}</span>;
}
