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

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown' | string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
}

export interface EnvVar {
  name: string;
  value: string;
}

export interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  [field: string]: unknown;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[]; [field: string]: unknown };
}

export interface DeploymentTrigger {
  type: string;
  imageChange?: { from: string; containerNames: string[]; automatic?: boolean };
}

export interface Deployment extends ApiObject {
  spec: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template: PodTemplate;
    paused?: boolean;
    triggers?: DeploymentTrigger[];
    [field: string]: unknown;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    unavailableReplicas?: number;
    conditions?: Condition[];
  };
}

export interface ReplicaSet extends ApiObject {
  spec: { replicas?: number; template: PodTemplate };
  status?: { replicas?: number; readyReplicas?: number; availableReplicas?: number };
}

export interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode?: number; reason?: string; message?: string };
}

export interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  image: string;
  state?: ContainerState;
}

export interface Pod extends ApiObject {
  spec: { containers: Container[]; nodeName?: string };
  status?: {
    phase?: string;
    conditions?: Condition[];
    reason?: string;
    message?: string;
    podIP?: string;
    startTime?: string;
    containerStatuses?: ContainerStatus[];
  };
}

export interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  targetPort?: number | string;
}

export interface Service extends ApiObject {
  spec: { selector?: Record<string, string>; ports: ServicePort[]; type?: string };
  status?: { clusterIP?: string };
}

export type Termination = 'edge' | 'passthrough' | 'reencrypt';

export interface RouteIngress {
  routerName: string;
  host?: string;
  conditions?: Condition[];
}

export interface Route extends ApiObject {
  spec: {
    host?: string;
    path?: string;
    to: { kind?: string; name: string; weight?: number };
    port?: { targetPort: number | string };
    tls?: { termination: Termination; insecureEdgeTerminationPolicy?: string };
  };
  status?: { ingress?: RouteIngress[] };
}

export type SubjectKind = 'User' | 'Group' | 'ServiceAccount';

export interface Subject {
  kind: SubjectKind;
  name: string;
  project?: string;
}

export interface RoleBinding extends ApiObject {
  spec: { roleRef: { kind: 'ClusterRole'; name: string }; subjects: Subject[] };
}

export type ResourceList = Record<string, string>;

export interface Node extends ApiObject {
  spec: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] };
  status?: {
    capacity?: ResourceList;
    allocatable?: ResourceList;
    conditions?: Condition[];
    addresses?: { type: string; address: string }[];
    nodeInfo?: { kernelVersion?: string; osImage?: string; architecture?: string; agentVersion?: string; containerRuntimeVersion?: string; podNetwork?: string };
  };
}

/** A build, as far as the console reads it (api/build.go owns the shape). */
export interface Build extends ApiObject {
  spec?: { [field: string]: unknown };
  status?: { phase?: string; startTimestamp?: string; completionTimestamp?: string; message?: string; [field: string]: unknown };
}

export interface APIResource {
  name: string;
  kind: string;
  projectScoped: boolean;
  subresources?: { name: string; verbs: string[] }[];
}
