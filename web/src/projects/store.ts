import type { List, Project } from '../api/types';

// The projects the console knows: pages listed so far plus the watch's
// changes, keyed by name. Pure functions, so the merge rules are testable.

export interface ProjectListState {
  byName: ReadonlyMap<string, Project>;
  /** Deleted names and the revision of their deletion, so that a page read
   *  before the deletion does not bring them back. */
  deleted: ReadonlyMap<string, number>;
  /** The first page's revision: the watch starts after it. */
  resourceVersion: string | null;
  continueToken: string | undefined;
  /** Every page is loaded. */
  complete: boolean;
}

export const emptyProjectList: ProjectListState = {
  byName: new Map(),
  deleted: new Map(),
  resourceVersion: null,
  continueToken: undefined,
  complete: false,
};

export type ProjectListAction =
  | { type: 'reset' }
  | { type: 'page'; list: List<Project>; first: boolean }
  | { type: 'event'; event: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Project }
  | { type: 'deleting'; name: string };

export function revisionOf(project: Project): number {
  const n = Number(project.metadata.resourceVersion);
  return Number.isFinite(n) ? n : 0;
}

function isNewer(current: Project | undefined, next: Project): boolean {
  return !current || revisionOf(next) >= revisionOf(current);
}

export function projectListReducer(state: ProjectListState, action: ProjectListAction): ProjectListState {
  switch (action.type) {
    case 'reset':
      return emptyProjectList;
    case 'page': {
      const byName = new Map(action.first ? [] : state.byName);
      for (const project of action.list.items) {
        const name = project.metadata.name;
        const deletedAt = state.deleted.get(name);
        if (deletedAt !== undefined && revisionOf(project) <= deletedAt) continue;
        if (isNewer(byName.get(name), project)) byName.set(name, project);
      }
      const continueToken = action.list.metadata.continue || undefined;
      return {
        byName,
        deleted: action.first ? new Map() : state.deleted,
        resourceVersion: action.first ? action.list.metadata.resourceVersion : state.resourceVersion,
        continueToken,
        complete: !continueToken,
      };
    }
    case 'event': {
      const name = action.object.metadata.name;
      const byName = new Map(state.byName);
      if (action.event === 'DELETED') {
        byName.delete(name);
        const deleted = new Map(state.deleted);
        deleted.set(name, revisionOf(action.object));
        return { ...state, byName, deleted };
      }
      if (!isNewer(byName.get(name), action.object)) return state;
      byName.set(name, action.object);
      const deleted = new Map(state.deleted);
      deleted.delete(name);
      return { ...state, byName, deleted };
    }
    case 'deleting': {
      const current = state.byName.get(action.name);
      if (!current) return state;
      const byName = new Map(state.byName);
      byName.set(action.name, { ...current, status: { ...current.status, phase: 'Terminating' } });
      return { ...state, byName };
    }
  }
}

/** sortedProjects lists the known projects by name. */
export function sortedProjects(state: ProjectListState): Project[] {
  return [...state.byName.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}

/**
 * filterProjects keeps the projects whose name or display name contains
 * every word of the query, ignoring case.
 */
export function filterProjects(projects: readonly Project[], query: string): Project[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...projects];
  return projects.filter((project) => {
    const text = `${project.metadata.name} ${project.spec.displayName ?? ''}`.toLowerCase();
    return words.every((word) => text.includes(word));
  });
}

/** isTerminating tells whether a project is being deleted. */
export function isTerminating(project: Project): boolean {
  return project.status?.phase === 'Terminating' || Boolean(project.metadata.deletionTimestamp);
}
