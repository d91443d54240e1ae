// Wire types of the Slipway API that the console uses. Field names follow
// the server's JSON (see ARCHITECTURE.md, "API conventions").

/** Status is the body of every error answer. */
export interface Status {
  kind: 'Status';
  code: number;
  reason: string;
  message: string;
  details?: { field?: string };
}

export interface ObjectMeta {
  name: string;
  project?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface ListMeta {
  resourceVersion: string;
  continue?: string;
}

/** An object the API stores: metadata plus its kind's spec and status. */
export interface ApiObject {
  kind?: string;
  apiVersion?: string;
  metadata: ObjectMeta;
}

export interface List<T extends ApiObject> {
  kind: string;
  apiVersion?: string;
  metadata: ListMeta;
  items: T[];
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** One line of a watch stream. ERROR events carry a Status. */
export type WatchEvent<T extends ApiObject> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T }
  | { type: 'BOOKMARK'; object: ApiObject }
  | { type: 'ERROR'; object: Status };

export type ProjectPhase = 'Active' | 'Terminating';

export interface Project extends ApiObject {
  spec: { displayName?: string; description?: string };
  status?: { phase?: ProjectPhase };
}

export interface User extends ApiObject {
  spec: { displayName?: string; email?: string };
}

export interface IdentityProvider {
  name: string;
  type: 'password' | 'oidc' | string;
  deviceFlow?: boolean;
}

export interface LoginResult {
  token: string;
  user: string;
  expiresAt: string;
}
