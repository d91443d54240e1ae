import type { ApiClient } from './client';
import { projectPath } from './resources';
import type { ApiObject, Build, Deployment, EnvVar, Route, Service } from './types';

// Builds as api/build.go shapes them (OpenShift's BuildConfig and Build).

export interface WebHookTrigger {
  secret?: string;
  secretReference?: { name: string };
  signingSecret?: string;
}

export interface BuildTriggerPolicy {
  type: 'GitHub' | 'GitLab' | 'Generic' | 'ImageChange' | 'ConfigChange' | string;
  github?: WebHookTrigger;
  gitlab?: WebHookTrigger;
  generic?: WebHookTrigger;
  imageChange?: Record<string, unknown>;
}

export interface WebhookDelivery {
  time?: string;
  type: string;
  event?: string;
  ref?: string;
  commit?: string;
  deliveryId?: string;
  result: 'Triggered' | 'Ignored' | 'Rejected' | 'Duplicate' | string;
  reason?: string;
  build?: string;
}

export interface BuildConfig extends ApiObject {
  spec: {
    source: { type?: string; git?: { uri: string; ref?: string }; contextDir?: string };
    strategy: { type?: string; sourceStrategy?: { from: { kind: string; name: string; namespace?: string }; env?: EnvVar[] } };
    output: { to?: { kind: string; name: string } };
    triggers?: BuildTriggerPolicy[];
    runPolicy?: string;
  };
  status?: { lastVersion?: number; webhookDeliveries?: WebhookDelivery[] };
}

export const builderProject = 'slipway-system';
export const builders = ['static', 'go', 'python'] as const;
export type Builder = (typeof builders)[number];

/** builderImage is the image stream tag of a builder (slipway-system/s2i-LANG:latest). */
export function builderImage(builder: Builder): { kind: 'ImageStreamTag'; namespace: string; name: string } {
  return { kind: 'ImageStreamTag', namespace: builderProject, name: `s2i-${builder}:latest` };
}

/** validateGitURL accepts what the server does: http(s), ssh, git, file URLs and git@host:path. */
export function validateGitURL(text: string): string | null {
  const uri = text.trim().split('#')[0] ?? '';
  if (uri === '') return 'Enter the repository’s URL.';
  if (/\s/.test(uri) || uri.length > 2048) return 'A Git URL has no spaces.';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(uri);
  if (scheme) {
    const kind = scheme[1]!.toLowerCase();
    if (kind === 'file') return null;
    if (!['http', 'https', 'ssh', 'git'].includes(kind)) return `A Git URL starts with https://, ssh://, git:// or file://, not ${kind}://.`;
    if (!/^[^/]+/.test(scheme[2] ?? '')) return 'The URL names no host.';
    return null;
  }
  if (/^[^@/:]+@[^:]+:.+$/.test(uri)) return null;
  return 'Enter a Git URL such as https://github.com/shop/web.git or git@github.com:shop/web.git.';
}

/** splitGitURL separates a trailing #ref. */
export function splitGitURL(text: string): { uri: string; ref: string } {
  const [uri = '', ref = ''] = text.trim().split('#', 2);
  return { uri, ref };
}

/** appName is the repository's base name made a DNS label (as slip new-app does). */
export function appName(uri: string): string {
  let base = uri.replace(/\/+$/, '').split('/').pop() ?? '';
  base = base.replace(/\.git$/, '');
  const colon = base.lastIndexOf(':');
  if (colon >= 0) base = base.slice(colon + 1);
  let name = base.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  if (name.length > 40) name = name.slice(0, 40).replace(/-+$/, '');
  return name || 'app';
}

/**
 * guessBuilder picks a builder from the URL's words: the browser cannot
 * look into the repository (slip new-app does), so the form says it
 * guessed and lets the person choose.
 */
export function guessBuilder(uri: string): Builder {
  const words = uri.toLowerCase().split(/[^a-z0-9]+/);
  if (words.some((w) => ['go', 'golang'].includes(w) || w.endsWith('go'))) return 'go';
  if (words.some((w) => ['py', 'python', 'django', 'flask', 'fastapi'].includes(w) || w.startsWith('py'))) return 'python';
  return 'static';
}

/** randomSecret is a webhook secret: 16 random bytes in hex. */
export function randomSecret(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** registryHost is the host the pods pull the app's images from: this server's. */
export function registryHost(location: { host: string; hostname: string; port: string }): string {
  return location.hostname === '127.0.0.1' ? `localhost:${location.port}` : location.host;
}

export interface ImportRequest {
  project: string;
  name: string;
  gitURL: string;
  contextDir: string;
  builder: Builder;
  port: number;
  env: EnvVar[];
  route: boolean;
  routeHost: string;
  registryHost: string;
}

export interface ImportObjects {
  deployment: Deployment;
  service: Service;
  route: Route | null;
  buildConfig: BuildConfig;
}

/**
 * importObjects are what "Import from Git" creates, shaped as slip
 * new-app's: a BuildConfig (GitHub, GitLab and Generic webhooks, a
 * rebuild on a new builder image, a first build at once), a Deployment
 * following NAME:latest with an automatic ImageChange trigger, a Service,
 * and optionally an edge Route.
 */
export function importObjects(r: ImportRequest): ImportObjects {
  const labels = { app: r.name };
  const { uri, ref } = splitGitURL(r.gitURL);
  const deployment: Deployment = {
    kind: 'Deployment',
    apiVersion: 'v1',
    metadata: { name: r.name, labels },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: r.name,
              image: `${r.registryHost}/${r.project}/${r.name}:latest`,
              ...(r.env.length ? { env: r.env } : {}),
              ports: [{ name: 'http', containerPort: r.port }],
            },
          ],
        },
      },
      triggers: [{ type: 'ImageChange', imageChange: { from: `${r.name}:latest`, containerNames: [r.name], automatic: true } }],
    },
  };
  const service: Service = {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: { name: r.name, labels },
    spec: { selector: labels, ports: [{ name: 'http', port: r.port, targetPort: 'http' }] },
  };
  const route: Route | null = r.route
    ? {
        kind: 'Route',
        apiVersion: 'v1',
        metadata: { name: r.name, labels },
        spec: {
          ...(r.routeHost.trim() ? { host: r.routeHost.trim() } : {}),
          to: { kind: 'Service', name: r.name },
          tls: { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' },
        },
      }
    : null;
  const buildConfig: BuildConfig = {
    kind: 'BuildConfig',
    apiVersion: 'v1',
    metadata: { name: r.name, labels },
    spec: {
      source: { type: 'Git', git: { uri, ...(ref ? { ref } : {}) }, ...(r.contextDir.trim() ? { contextDir: r.contextDir.trim() } : {}) },
      strategy: { type: 'Source', sourceStrategy: { from: builderImage(r.builder) } },
      output: { to: { kind: 'ImageStreamTag', name: `${r.name}:latest` } },
      triggers: [
        { type: 'GitHub', github: { secret: randomSecret() } },
        { type: 'GitLab', gitlab: { secret: randomSecret() } },
        { type: 'Generic', generic: { secret: randomSecret() } },
        { type: 'ImageChange', imageChange: {} },
        { type: 'ConfigChange' },
      ],
    },
  };
  return { deployment, service, route, buildConfig };
}

export function startBuild(client: ApiClient, project: string, buildConfig: string): Promise<Build> {
  return client.post<Build>(projectPath(project, 'buildconfigs', buildConfig, 'instantiate'), {});
}

export function cancelBuild(client: ApiClient, project: string, build: string): Promise<Build> {
  return client.patch<Build>(projectPath(project, 'builds', build), { spec: { cancelled: true } });
}

export interface WebhookURL {
  type: string;
  /** null when the secret is kept in a Secret the console does not read. */
  url: string | null;
  secretName?: string;
  signed: boolean;
}

/** webhookURLs lists the BuildConfig's webhook URLs (…/webhooks/SECRET/TYPE). */
export function webhookURLs(origin: string, project: string, bc: BuildConfig): WebhookURL[] {
  const out: WebhookURL[] = [];
  for (const t of bc.spec.triggers ?? []) {
    const hook = t.github ?? t.gitlab ?? t.generic;
    if (!hook || !['GitHub', 'GitLab', 'Generic'].includes(t.type)) continue;
    const signed = Boolean(hook.signingSecret);
    if (hook.secret) {
      const path = `${projectPath(project, 'buildconfigs', bc.metadata.name)}/webhooks/${encodeURIComponent(hook.secret)}/${t.type.toLowerCase()}`;
      out.push({ type: t.type, url: origin + path, signed });
    } else {
      out.push({ type: t.type, url: null, secretName: hook.secretReference?.name, signed });
    }
  }
  return out;
}

export const buildFinished = new Set(['Complete', 'Failed', 'Cancelled', 'Error']);
