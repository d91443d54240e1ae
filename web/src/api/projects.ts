import type { ApiClient } from './client';
import type { List, Project } from './types';

/** The projects collection; later resources follow the same pattern. */
export const projectsPath = '/api/v1/projects';

export interface ListPageOptions {
  limit: number;
  continueToken?: string;
  labelSelector?: string;
  signal?: AbortSignal;
}

export function listProjects(client: ApiClient, options: ListPageOptions): Promise<List<Project>> {
  return client.get<List<Project>>(projectsPath, {
    query: { limit: options.limit, continue: options.continueToken, labelSelector: options.labelSelector },
    signal: options.signal,
  });
}

export interface NewProject {
  name: string;
  displayName: string;
  description: string;
}

export function createProject(client: ApiClient, project: NewProject): Promise<Project> {
  const spec: Project['spec'] = {};
  if (project.displayName.trim()) spec.displayName = project.displayName.trim();
  if (project.description.trim()) spec.description = project.description.trim();
  return client.post<Project>(projectsPath, { kind: 'Project', apiVersion: 'v1', metadata: { name: project.name }, spec });
}

/** deleteProject starts the deletion; the server removes the contents next. */
export function deleteProject(client: ApiClient, name: string): Promise<Project | undefined> {
  return client.delete<Project | undefined>(`${projectsPath}/${encodeURIComponent(name)}`);
}
