import type { Build, Deployment, Pod, ReplicaSet, Route, Service } from '../api/types';

// Objects as the server returns them, for component tests.

export function deployment(name: string, rv: number, o: { replicas?: number; ready?: number; updated?: number; image?: string; generation?: number; revision?: number } = {}): Deployment {
  const replicas = o.replicas ?? 1;
  return {
    kind: 'Deployment',
    metadata: {
      name,
      project: 'shop',
      uid: `uid-${name}`,
      resourceVersion: String(rv),
      generation: o.generation ?? 1,
      annotations: { 'deployment.slipway.io/revision': String(o.revision ?? 1) },
    },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: o.image ?? `registry/${name}:1`, env: [{ name: 'MODE', value: 'prod' }] }] } },
    },
    status: { observedGeneration: o.generation ?? 1, replicas, updatedReplicas: o.updated ?? replicas, readyReplicas: o.ready ?? replicas, availableReplicas: o.ready ?? replicas },
  };
}

export function service(name: string, app = name): Service {
  return { kind: 'Service', metadata: { name, resourceVersion: '5' }, spec: { selector: { app }, ports: [{ port: 8080 }] } };
}

export function route(name: string, to: string, host: string, tls = true, admitted: boolean | null = true): Route {
  return {
    kind: 'Route',
    metadata: { name, resourceVersion: '6' },
    spec: { host, to: { kind: 'Service', name: to }, ...(tls ? { tls: { termination: 'edge' as const } } : {}) },
    status:
      admitted === null
        ? {}
        : { ingress: [{ routerName: 'default', host, conditions: [{ type: 'Admitted', status: admitted ? 'True' : 'False', reason: admitted ? undefined : 'HostAlreadyClaimed', message: admitted ? undefined : 'host is taken' }] }] },
  };
}

export function build(config: string, n: number, phase: string): Build {
  return {
    kind: 'Build',
    metadata: { name: `${config}-${n}`, resourceVersion: String(10 + n), labels: { 'slipway.io/buildconfig': config }, annotations: { 'slipway.io/build-number': String(n) } },
    status: { phase },
  };
}

export function pod(name: string, app: string, o: { phase?: string; ready?: boolean; restarts?: number; waiting?: string } = {}): Pod {
  return {
    kind: 'Pod',
    metadata: { name, project: 'shop', resourceVersion: '7', labels: { 'slipway.io/deployment': app }, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'web', image: 'x' }], nodeName: 'node-1' },
    status: {
      phase: o.phase ?? 'Running',
      containerStatuses: [{ name: 'web', ready: o.ready ?? true, restartCount: o.restarts ?? 0, image: 'x', state: o.waiting ? { waiting: { reason: o.waiting } } : { running: {} } }],
    },
  };
}

export function replicaSet(app: string, revision: number, image: string, replicas: number): ReplicaSet {
  return {
    kind: 'ReplicaSet',
    metadata: {
      name: `${app}-rs${revision}`,
      resourceVersion: String(20 + revision),
      labels: { 'slipway.io/deployment': app },
      annotations: { 'deployment.slipway.io/revision': String(revision), 'slipway.io/owner-uid': `uid-${app}` },
      creationTimestamp: '2026-01-01T00:00:00Z',
    },
    spec: { replicas, template: { spec: { containers: [{ name: 'web', image }] } } },
    status: { replicas, readyReplicas: replicas },
  };
}
