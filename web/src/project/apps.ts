import type { Build, Deployment, Route, Service } from '../api/types';

// The overview's model: one summary per app (Deployment), made of plain
// values only, so a memoised row re-renders only when its own app changed.

export interface AppSummary {
  name: string;
  desired: number;
  ready: number;
  updated: number;
  available: number;
  /** A rollout is under way: new pods are coming or old ones going. */
  rolling: boolean;
  /** One word for the app's state: Running, Rolling out, Scaled to zero… */
  state: AppState;
  images: string;
  /** The latest build's name and phase ('' when none or no builds resource). */
  buildName: string;
  buildPhase: string;
  /** The routes' URLs, space-separated (strings compare cheaply). */
  urls: string;
}

export type AppState = 'Running' | 'Rolling out' | 'Scaled to zero' | 'Unavailable' | 'Degraded' | 'Paused';

export const buildConfigLabel = 'slipway.io/buildconfig';
export const buildNumberAnnotation = 'slipway.io/build-number';

export function desiredReplicas(d: Deployment): number {
  return d.spec.replicas ?? 1;
}

/**
 * isRollingOut tells whether the controller has not caught up with the
 * spec or pods of an older revision remain.
 */
export function isRollingOut(d: Deployment): boolean {
  const status = d.status ?? {};
  const desired = desiredReplicas(d);
  if (d.spec.paused) return false;
  if ((d.metadata.generation ?? 0) > (status.observedGeneration ?? 0)) return true;
  if ((status.updatedReplicas ?? 0) < desired) return true;
  if ((status.replicas ?? 0) > (status.updatedReplicas ?? 0)) return true;
  return false;
}

export function appState(d: Deployment): AppState {
  const desired = desiredReplicas(d);
  const ready = d.status?.readyReplicas ?? 0;
  if (d.spec.paused) return 'Paused';
  if (isRollingOut(d)) return 'Rolling out';
  if (desired === 0) return 'Scaled to zero';
  if (ready === 0) return 'Unavailable';
  if (ready < desired) return 'Degraded';
  return 'Running';
}

/** routeURLs are the addresses routers serve a route at. */
export function routeURLs(route: Route): string[] {
  const scheme = route.spec.tls ? 'https' : 'http';
  const path = route.spec.path ?? '';
  const hosts = new Set<string>();
  for (const ingress of route.status?.ingress ?? []) {
    if (ingress.host) hosts.add(ingress.host);
  }
  return [...hosts].map((host) => `${scheme}://${host}${path}`);
}

/** admission says whether routers admitted the route, in words. */
export function admission(route: Route): { admitted: boolean | null; text: string } {
  const ingress = route.status?.ingress ?? [];
  if (ingress.length === 0) return { admitted: null, text: 'Waiting for a router' };
  const refused = ingress.flatMap((i) => (i.conditions ?? []).filter((c) => c.type === 'Admitted' && c.status === 'False').map((c) => ({ i, c })));
  if (refused.length > 0) {
    const { i, c } = refused[0]!;
    return { admitted: false, text: `Refused by ${i.routerName}: ${c.message || c.reason || 'no reason given'}` };
  }
  const admitted = ingress.filter((i) => (i.conditions ?? []).some((c) => c.type === 'Admitted' && c.status === 'True'));
  if (admitted.length > 0) return { admitted: true, text: `Admitted by ${admitted.map((i) => i.routerName).join(', ')}` };
  return { admitted: null, text: 'Waiting for a router' };
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** servicesOf lists the services whose selector picks the app's pods. */
export function servicesOf(d: Deployment, services: Iterable<Service>): Service[] {
  const labels = d.spec.template.metadata?.labels;
  const out: Service[] = [];
  for (const s of services) if (selects(s.spec.selector, labels) || s.metadata.name === d.metadata.name) out.push(s);
  return out;
}

export function buildNumber(build: Build): number {
  const n = Number(build.metadata.annotations?.[buildNumberAnnotation]);
  if (Number.isFinite(n) && n > 0) return n;
  const m = /-(\d+)$/.exec(build.metadata.name);
  return m ? Number(m[1]) : 0;
}

export function buildConfigOf(build: Build): string {
  const config = (build.status as { config?: { name?: string } } | undefined)?.config?.name;
  return build.metadata.labels?.[buildConfigLabel] ?? config ?? '';
}

/** latestBuilds maps each BuildConfig to its newest build. */
export function latestBuilds(builds: Iterable<Build>): Map<string, Build> {
  const out = new Map<string, Build>();
  for (const b of builds) {
    const config = buildConfigOf(b);
    if (!config) continue;
    const current = out.get(config);
    if (!current || buildNumber(b) > buildNumber(current)) out.set(config, b);
  }
  return out;
}

/** buildConfigCandidates are the BuildConfigs that may feed the app: its name, then its image triggers'. */
export function buildConfigCandidates(d: Deployment): string[] {
  const names = [d.metadata.name];
  for (const t of d.spec.triggers ?? []) {
    const from = t.imageChange?.from;
    if (!from) continue;
    const m = /(?:^|\/)([^/:]+)(?::[^/]*)?$/.exec(from);
    if (m?.[1]) names.push(m[1]);
  }
  return names;
}

export interface Related {
  services: Iterable<Service>;
  /** Routes by the service they send to. */
  routesByService: ReadonlyMap<string, Route[]>;
  latestBuildByConfig: ReadonlyMap<string, Build>;
}

export function routesByService(routes: Iterable<Route>): Map<string, Route[]> {
  const out = new Map<string, Route[]>();
  for (const r of routes) {
    const list = out.get(r.spec.to.name) ?? [];
    list.push(r);
    out.set(r.spec.to.name, list);
  }
  return out;
}

export function summarize(d: Deployment, related: Related): AppSummary {
  const urls: string[] = [];
  for (const s of servicesOf(d, related.services)) {
    for (const r of related.routesByService.get(s.metadata.name) ?? []) urls.push(...routeURLs(r));
  }
  let build: Build | undefined;
  for (const name of buildConfigCandidates(d)) {
    build = related.latestBuildByConfig.get(name);
    if (build) break;
  }
  const status = d.status ?? {};
  return {
    name: d.metadata.name,
    desired: desiredReplicas(d),
    ready: status.readyReplicas ?? 0,
    updated: status.updatedReplicas ?? 0,
    available: status.availableReplicas ?? 0,
    rolling: isRollingOut(d),
    state: appState(d),
    images: d.spec.template.spec.containers.map((c) => c.image).join(' '),
    buildName: build?.metadata.name ?? '',
    buildPhase: build?.status?.phase ?? (build ? 'New' : ''),
    urls: [...new Set(urls)].sort().join(' '),
  };
}
