import { useEffect, useState } from 'react';
import type { ApiClient } from '../api/client';
import { discover } from '../api/resources';

/**
 * useDiscovery returns the names of the resources the server serves (null
 * until known), so pages show builds or events only where they exist. A
 * failed discovery counts as knowing none of the optional ones.
 */
export function useDiscovery(client: ApiClient): ReadonlySet<string> | null {
  const [resources, setResources] = useState<ReadonlySet<string> | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    discover(client, abort.signal)
      .then((list) => setResources(new Set(list.map((r) => r.name))))
      .catch(() => {
        if (!abort.signal.aborted) setResources(new Set());
      });
    return () => abort.abort();
  }, [client]);
  return resources;
}
