import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import type { ApiClient } from '../api/client';
import { ApiError, describeError } from '../api/errors';
import { listProjects, projectsPath } from '../api/projects';
import type { Project } from '../api/types';
import { watch, type WatchState } from '../api/watch';
import { emptyProjectList, projectListReducer, type ProjectListState } from './store';

export interface ProjectList {
  state: ProjectListState;
  /** The first page has arrived. */
  loaded: boolean;
  loadingPage: boolean;
  /** Why the last list failed, in plain words. */
  error: string | null;
  watchState: WatchState | 'stopped';
  /** Fetch the next page, if there is one and none is on its way. */
  loadMore: () => void;
  /** List again from the start (after an error). */
  reload: () => void;
  /** Show a deletion at once, before the watch reports it. */
  markDeleting: (name: string) => void;
  /** Show a created project at once, before the watch reports it. */
  add: (project: Project) => void;
}

/**
 * useProjectList lists projects a page at a time and keeps them current
 * with a watch from the first page's revision. A revision or continue
 * token the server no longer has (410 Gone) starts over from the top.
 */
export function useProjectList(client: ApiClient, pageSize: number): ProjectList {
  const [state, dispatch] = useReducer(projectListReducer, emptyProjectList);
  const [generation, setGeneration] = useState(0);
  const [loaded, setLoaded] = useState(false);
  const [loadingPage, setLoadingPage] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [watchState, setWatchState] = useState<WatchState | 'stopped'>('stopped');
  const busy = useRef(false);
  const pages = useRef<AbortController | null>(null);

  const relist = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    const abort = new AbortController();
    pages.current = abort;
    let stopWatch: (() => void) | undefined;
    dispatch({ type: 'reset' });
    setLoaded(false);
    setError(null);
    setLoadingPage(true);
    busy.current = true;
    listProjects(client, { limit: pageSize, signal: abort.signal })
      .then((list) => {
        if (abort.signal.aborted) return;
        dispatch({ type: 'page', list, first: true });
        setLoaded(true);
        stopWatch = watch<Project>({
          client,
          path: projectsPath,
          resourceVersion: list.metadata.resourceVersion,
          onEvent: (event) => dispatch({ type: 'event', event: event.type, object: event.object }),
          onGone: relist,
          onFailure: (failure) => setError(`Live updates stopped: ${describeError(failure)}`),
          onState: setWatchState,
        });
      })
      .catch((failure: unknown) => {
        if (!abort.signal.aborted) setError(describeError(failure));
      })
      .finally(() => {
        if (!abort.signal.aborted) {
          busy.current = false;
          setLoadingPage(false);
        }
      });
    return () => {
      abort.abort();
      stopWatch?.();
      setWatchState('stopped');
    };
  }, [client, pageSize, generation, relist]);

  const continueToken = state.continueToken;
  const loadMore = useCallback(() => {
    const abort = pages.current;
    if (!continueToken || busy.current || !abort) return;
    busy.current = true;
    setLoadingPage(true);
    listProjects(client, { limit: pageSize, continueToken, signal: abort.signal })
      .then((list) => {
        if (!abort.signal.aborted) dispatch({ type: 'page', list, first: false });
      })
      .catch((failure: unknown) => {
        if (abort.signal.aborted) return;
        if (failure instanceof ApiError && failure.code === 410) relist();
        else setError(describeError(failure));
      })
      .finally(() => {
        if (!abort.signal.aborted) {
          busy.current = false;
          setLoadingPage(false);
        }
      });
  }, [client, pageSize, continueToken, relist]);

  const markDeleting = useCallback((name: string) => dispatch({ type: 'deleting', name }), []);
  const add = useCallback((project: Project) => dispatch({ type: 'event', event: 'ADDED', object: project }), []);

  return { state, loaded, loadingPage, error, watchState, loadMore, reload: relist, markDeleting, add };
}
