import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Project } from '../api/types';
import { useApi } from '../auth/AuthContext';
import { Alert } from '../components/Alert';
import { LiveIndicator } from '../components/LiveIndicator';
import { PageTitle } from '../components/PageTitle';
import { CreateProjectDialog } from '../projects/CreateProjectDialog';
import { DeleteProjectDialog } from '../projects/DeleteProjectDialog';
import { ProjectTable } from '../projects/ProjectTable';
import { filterProjects, sortedProjects } from '../projects/store';
import { useProjectList } from '../projects/useProjectList';

/** Projects asked of the server at a time. */
const pageSize = 200;
/** Rows added to the table each time the person scrolls to its end. */
const rowStep = 100;

/**
 * ProjectsPage lists the projects the person can see. It loads pages only
 * as far as the table (or the filter) needs, and follows changes live.
 */
export function ProjectsPage() {
  const client = useApi();
  const list = useProjectList(client, pageSize);
  const [filter, setFilter] = useState('');
  const [rows, setRows] = useState(rowStep);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Project | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const all = useMemo(() => sortedProjects(list.state), [list.state]);
  const matching = useMemo(() => filterProjects(all, filter), [all, filter]);
  const shown = matching.length > rows ? matching.slice(0, rows) : matching;
  const complete = list.state.complete;
  const { loaded, loadingPage, error, loadMore } = list;

  // Fetch further pages while the table wants more rows than the loaded
  // projects give: with a filter this searches on until enough match.
  useEffect(() => {
    if (loaded && !complete && !loadingPage && !error && matching.length < rows) loadMore();
  }, [loaded, complete, loadingPage, error, matching.length, rows, loadMore]);

  useEffect(() => setRows(rowStep), [filter]);

  const more = matching.length > rows || !complete;
  const showMore = useCallback(() => setRows((r) => r + rowStep), []);
  const sentinel = useInfiniteScroll(more && !loadingPage, showMore);

  const summary = !loaded
    ? 'Loading projects…'
    : filter.trim()
      ? `${matching.length} ${plural(matching.length, 'project')} match “${filter.trim()}”${complete ? '' : ' so far'}`
      : `${all.length}${complete ? '' : '+'} ${plural(all.length, 'project')}`;

  return (
    <section className="page__section">
      <div className="page__header">
        <PageTitle>Projects</PageTitle>
        <button type="button" className="button button--primary" onClick={() => setCreating(true)}>
          Create project
        </button>
      </div>

      <div className="toolbar">
        <label className="toolbar__filter">
          <span className="visually-hidden">Filter projects by name</span>
          <input
            type="search"
            placeholder="Filter by name"
            value={filter}
            onChange={(event) => setFilter(event.target.value)}
            aria-describedby="projects-summary"
          />
        </label>
        <p id="projects-summary" className="toolbar__summary" role="status" aria-live="polite">
          {summary}
        </p>
        <LiveIndicator state={list.watchState} />
      </div>

      {notice && (
        <Alert variant="success" action={<CloseButton onClick={() => setNotice(null)} />}>
          {notice}
        </Alert>
      )}
      {error && (
        <Alert
          title="Cannot list projects"
          action={
            <button type="button" className="button button--secondary" onClick={list.reload}>
              Try again
            </button>
          }
        >
          {error}
        </Alert>
      )}

      {loaded && all.length === 0 && complete && (
        <div className="empty">
          <h2>No projects yet</h2>
          <p>A project holds your applications, their builds and their routes. Create one to begin.</p>
          <button type="button" className="button button--primary" onClick={() => setCreating(true)}>
            Create project
          </button>
        </div>
      )}
      {loaded && all.length > 0 && matching.length === 0 && complete && (
        <p className="empty">No project matches “{filter.trim()}”.</p>
      )}
      {shown.length > 0 && <ProjectTable projects={shown} onDelete={setDeleting} />}

      {more && loaded && (
        <div className="table__more" ref={sentinel}>
          <button type="button" className="button button--secondary" onClick={showMore} disabled={loadingPage}>
            {loadingPage ? 'Loading…' : 'Show more projects'}
          </button>
        </div>
      )}

      <CreateProjectDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(project) => {
          list.add(project);
          setCreating(false);
          setNotice(`Project ${project.metadata.name} created.`);
        }}
      />
      <DeleteProjectDialog
        project={deleting}
        onClose={() => setDeleting(null)}
        onDeleted={(name) => {
          list.markDeleting(name);
          setDeleting(null);
          setNotice(`Project ${name} is being deleted with everything in it.`);
        }}
      />
    </section>
  );
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

function CloseButton({ onClick }: { onClick: () => void }) {
  return (
    <button type="button" className="button button--plain button--icon" aria-label="Dismiss" onClick={onClick}>
      <span aria-hidden="true">×</span>
    </button>
  );
}

/**
 * useInfiniteScroll calls onVisible whenever the returned element scrolls
 * into view while enabled.
 */
function useInfiniteScroll(enabled: boolean, onVisible: () => void): (element: HTMLElement | null) => void {
  const observer = useRef<IntersectionObserver | null>(null);
  const callback = useRef(onVisible);
  useEffect(() => {
    callback.current = onVisible;
  }, [onVisible]);
  return useCallback(
    (element: HTMLElement | null) => {
      observer.current?.disconnect();
      observer.current = null;
      if (!element || !enabled || typeof IntersectionObserver === 'undefined') return;
      observer.current = new IntersectionObserver(
        (entries) => {
          if (entries.some((entry) => entry.isIntersecting)) callback.current();
        },
        { rootMargin: '400px' },
      );
      observer.current.observe(element);
    },
    [enabled],
  );
}
