import type { ApiObject, List } from '../api/types';

// A collection the console keeps current: a list plus a watch's changes,
// keyed by name. Pure functions, so the merge rules are testable. A change
// replaces only its own object: the others keep their identity, which is
// what lets memoised rows skip re-rendering.

export interface CollectionState<T extends ApiObject> {
  byName: ReadonlyMap<string, T>;
  /** The list's revision: the watch starts after it. */
  resourceVersion: string | null;
  loaded: boolean;
  /** performance.now() when the last watch event was applied (0: none). */
  lastEventAt: number;
  /** performance.now() when the list arrived (0: not yet). */
  loadedAt: number;
}

export function emptyCollection<T extends ApiObject>(): CollectionState<T> {
  return { byName: new Map(), resourceVersion: null, loaded: false, lastEventAt: 0, loadedAt: 0 };
}

export type CollectionAction<T extends ApiObject> =
  | { type: 'reset' }
  | { type: 'list'; list: List<T>; at: number }
  | { type: 'event'; event: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T; at: number }
  | { type: 'put'; object: T };

export function revisionOf(object: ApiObject): number {
  const n = Number(object.metadata.resourceVersion);
  return Number.isFinite(n) ? n : 0;
}

export function collectionReducer<T extends ApiObject>(state: CollectionState<T>, action: CollectionAction<T>): CollectionState<T> {
  switch (action.type) {
    case 'reset':
      return emptyCollection<T>();
    case 'list': {
      const byName = new Map<string, T>();
      for (const item of action.list.items) byName.set(item.metadata.name, item);
      return { byName, resourceVersion: action.list.metadata.resourceVersion, loaded: true, lastEventAt: 0, loadedAt: action.at };
    }
    case 'event': {
      const name = action.object.metadata.name;
      const current = state.byName.get(name);
      if (action.event === 'DELETED') {
        if (!current) return state;
        const byName = new Map(state.byName);
        byName.delete(name);
        return { ...state, byName, lastEventAt: action.at };
      }
      if (current && revisionOf(action.object) < revisionOf(current)) return state;
      const byName = new Map(state.byName);
      byName.set(name, action.object);
      return { ...state, byName, lastEventAt: action.at };
    }
    case 'put': {
      const current = state.byName.get(action.object.metadata.name);
      if (current && revisionOf(action.object) < revisionOf(current)) return state;
      const byName = new Map(state.byName);
      byName.set(action.object.metadata.name, action.object);
      return { ...state, byName };
    }
  }
}

/** sortedByName lists a collection's objects by name. */
export function sortedByName<T extends ApiObject>(byName: ReadonlyMap<string, T>): T[] {
  return [...byName.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}
