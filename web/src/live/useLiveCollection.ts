import { useCallback, useEffect, useReducer, useState } from 'react';
import type { ApiClient } from '../api/client';
import { ApiError, describeError } from '../api/errors';
import { listAll } from '../api/resources';
import type { ApiObject } from '../api/types';
import { watch, type WatchState } from '../api/watch';
import { collectionReducer, emptyCollection, type CollectionAction, type CollectionState } from './collection';

export interface LiveCollection<T extends ApiObject> {
  state: CollectionState<T>;
  /** Why listing failed, in plain words. */
  error: string | null;
  /** The server answered 403: the person may not read these. */
  forbidden: boolean;
  watchState: WatchState | 'stopped';
  reload: () => void;
  /** Show an object the console just wrote, before the watch brings it. */
  put: (object: T) => void;
}

export interface LiveOptions {
  labelSelector?: string;
}

/**
 * useLiveCollection lists a collection and keeps it current with a watch
 * from the list's revision; a revision the server no longer has (410) lists
 * again. A null path keeps it empty (the resource is absent, say).
 */
export function useLiveCollection<T extends ApiObject>(client: ApiClient, path: string | null, options: LiveOptions = {}): LiveCollection<T> {
  const [state, dispatch] = useReducer(
    collectionReducer as (s: CollectionState<T>, a: CollectionAction<T>) => CollectionState<T>,
    undefined,
    () => emptyCollection<T>(),
  );
  const [generation, setGeneration] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [watchState, setWatchState] = useState<WatchState | 'stopped'>('stopped');
  const relist = useCallback(() => setGeneration((g) => g + 1), []);
  const { labelSelector } = options;

  useEffect(() => {
    dispatch({ type: 'reset' });
    setError(null);
    setForbidden(false);
    if (path === null) return undefined;
    const abort = new AbortController();
    let stopWatch: (() => void) | undefined;
    listAll<T>(client, path, { labelSelector, signal: abort.signal })
      .then((list) => {
        if (abort.signal.aborted) return;
        dispatch({ type: 'list', list, at: performance.now() });
        stopWatch = watch<T>({
          client,
          path,
          query: labelSelector ? { labelSelector } : undefined,
          resourceVersion: list.metadata.resourceVersion,
          onEvent: (event) => dispatch({ type: 'event', event: event.type, object: event.object, at: performance.now() }),
          onGone: relist,
          onFailure: (failure) => setError(`Live updates stopped: ${describeError(failure)}`),
          onState: setWatchState,
        });
      })
      .catch((failure: unknown) => {
        if (abort.signal.aborted) return;
        if (failure instanceof ApiError && failure.code === 403) setForbidden(true);
        setError(describeError(failure));
      });
    return () => {
      abort.abort();
      stopWatch?.();
      setWatchState('stopped');
    };
  }, [client, path, labelSelector, generation, relist]);

  const put = useCallback((object: T) => dispatch({ type: 'put', object }), []);
  return { state, error, forbidden, watchState, reload: relist, put };
}
