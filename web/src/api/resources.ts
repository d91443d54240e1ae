import type { ApiClient } from './client';
import type { APIResource, ApiObject, Deployment, List, Node, Pod, RoleBinding, Route, Subject } from './types';

// Paths and actions of the resources the project pages use. Every path
// follows ARCHITECTURE.md: /api/v1/projects/{project}/{resource}[/{name}[/{sub}]]
// for project-scoped resources, /api/v1/{resource}[/{name}] for the others.

export function projectPath(project: string, resource: string, name?: string, subresource?: string): string {
  let path = `/api/v1/projects/${encodeURIComponent(project)}/${resource}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) path += `/${subresource}`;
  return path;
}

export function clusterPath(resource: string, name?: string, subresource?: string): string {
  let path = `/api/v1/${resource}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) path += `/${subresource}`;
  return path;
}

/** The label a Deployment's ReplicaSets and pods carry with its name. */
export const deploymentLabel = 'slipway.io/deployment';
/** The annotation numbering a Deployment's revisions. */
export const revisionAnnotation = 'deployment.slipway.io/revision';
/** The annotation a rollback leaves on the Deployment. */
export const rollbackAnnotation = 'deployment.slipway.io/rollback';
/** The annotation tying a ReplicaSet to its Deployment's uid. */
export const ownerUidAnnotation = 'slipway.io/owner-uid';

/** discover lists the resources the server serves (GET /api/v1). */
export async function discover(client: ApiClient, signal?: AbortSignal): Promise<APIResource[]> {
  const answer = await client.get<{ resources?: APIResource[] }>('/api/v1', { signal });
  return answer.resources ?? [];
}

export interface ListAllOptions {
  labelSelector?: string;
  signal?: AbortSignal;
  /** Objects per request. */
  limit?: number;
}

/**
 * listAll reads every page of a collection; the result carries the first
 * page's revision, from which a watch sees every later change.
 */
export async function listAll<T extends ApiObject>(client: ApiClient, path: string, options: ListAllOptions = {}): Promise<List<T>> {
  const limit = options.limit ?? 500;
  const first = await client.get<List<T>>(path, { query: { limit, labelSelector: options.labelSelector }, signal: options.signal });
  const items = [...(first.items ?? [])];
  let continueToken = first.metadata.continue;
  while (continueToken) {
    const page = await client.get<List<T>>(path, {
      query: { limit, continue: continueToken, labelSelector: options.labelSelector },
      signal: options.signal,
    });
    items.push(...(page.items ?? []));
    continueToken = page.metadata.continue;
  }
  return { ...first, metadata: { resourceVersion: first.metadata.resourceVersion }, items };
}

export function scaleDeployment(client: ApiClient, project: string, name: string, replicas: number): Promise<unknown> {
  return client.patch(projectPath(project, 'deployments', name, 'scale'), { spec: { replicas } });
}

export function rollbackDeployment(client: ApiClient, project: string, name: string, toRevision: number): Promise<Deployment> {
  return client.post<Deployment>(projectPath(project, 'deployments', name, 'rollback'), { toRevision });
}

/**
 * setContainers replaces the template's containers (a merge patch replaces
 * arrays whole), on condition that the Deployment is still the version the
 * person edited.
 */
export function setContainers(client: ApiClient, project: string, deployment: Deployment, containers: Deployment['spec']['template']['spec']['containers']): Promise<Deployment> {
  return client.patch<Deployment>(projectPath(project, 'deployments', deployment.metadata.name), {
    metadata: { resourceVersion: deployment.metadata.resourceVersion },
    spec: { template: { spec: { containers } } },
  });
}

export interface NewRoute {
  name: string;
  service: string;
  host: string;
  targetPort: string;
  termination: 'none' | 'edge' | 'passthrough';
  insecurePolicy: 'Redirect' | 'Allow' | 'None';
}

export function createRoute(client: ApiClient, project: string, route: NewRoute): Promise<Route> {
  const spec: Route['spec'] = { to: { kind: 'Service', name: route.service } };
  if (route.host.trim()) spec.host = route.host.trim();
  const port = route.targetPort.trim();
  if (port) spec.port = { targetPort: /^\d+$/.test(port) ? Number(port) : port };
  if (route.termination !== 'none') {
    spec.tls = { termination: route.termination };
    if (route.termination === 'edge' && route.insecurePolicy !== 'None') spec.tls.insecureEdgeTerminationPolicy = route.insecurePolicy;
  }
  return client.post<Route>(projectPath(project, 'routes'), { kind: 'Route', apiVersion: 'v1', metadata: { name: route.name }, spec });
}

export function grantRole(client: ApiClient, project: string, name: string, role: string, subject: Subject): Promise<RoleBinding> {
  return client.post<RoleBinding>(projectPath(project, 'rolebindings'), {
    kind: 'RoleBinding',
    apiVersion: 'v1',
    metadata: { name },
    spec: { roleRef: { kind: 'ClusterRole', name: role }, subjects: [subject] },
  });
}

/**
 * revokeRole takes one subject out of a binding: the binding goes when it
 * was the last one, else it is updated on condition of its version.
 */
export async function revokeRole(client: ApiClient, project: string, binding: RoleBinding, subject: Subject): Promise<void> {
  const rest = binding.spec.subjects.filter((s) => !(s.kind === subject.kind && s.name === subject.name && (s.project ?? '') === (subject.project ?? '')));
  const path = projectPath(project, 'rolebindings', binding.metadata.name);
  if (rest.length === 0) {
    await client.delete(path, { query: { resourceVersion: binding.metadata.resourceVersion } });
    return;
  }
  await client.put(path, { ...binding, spec: { ...binding.spec, subjects: rest } });
}

export function setUnschedulable(client: ApiClient, node: string, unschedulable: boolean): Promise<Node> {
  return client.patch<Node>(clusterPath('nodes', node), { spec: { unschedulable } });
}

export function evictPod(client: ApiClient, pod: Pod): Promise<unknown> {
  return client.post(projectPath(pod.metadata.project ?? '', 'pods', pod.metadata.name, 'eviction'), {});
}
