/**
 * `DroverClient`: the typed client of Drover's Nomad-shaped HTTP API, used by the CLI, the UI and tests.
 * It imports no server code; it speaks only HTTP.
 *
 *   const c = new DroverClient({ address: 'http://127.0.0.1:4646' });
 *   const { value: jobs, index } = await c.jobs.list();
 *   await c.jobs.list({ index, wait: 30_000 });   // blocks until the job list changes
 */
import { EventsAPI } from './events.js';
import { AgentAPI, OperatorAPI, StatusAPI } from './agent.js';
import { AllocationsAPI } from './allocations.js';
import { DeploymentsAPI } from './deployments.js';
import { EvaluationsAPI } from './evaluations.js';
import { HttpTransport, type FetchLike } from './http.js';
import { JobsAPI } from './jobs.js';
import { NodesAPI } from './nodes.js';
import { VariablesAPI } from './variables.js';
import { KVAPI } from './kv.js';
import { KeyringAPI } from './keyring.js';
import { ServicesAPI } from './services.js';
import { IntentionsAPI } from './intentions.js';
import { ACLAPI, NamespacesAPI } from './acl.js';
import { ScalingAPI } from './scaling.js';

export const DEFAULT_ADDRESS = 'http://127.0.0.1:4646';

export interface DroverClientConfig {
  /** Defaults to `DROVER_ADDR`, then `NOMAD_ADDR`, then http://127.0.0.1:4646. A bare host:port gets http://. */
  address?: string;
  namespace?: string;
  region?: string;
  /** Sent as `X-Nomad-Token`. */
  token?: string;
  /** Replaces the global fetch (tests, proxies). */
  fetch?: FetchLike;
}

/** Adds a scheme to `host:port`, as nomad accepts `-address=127.0.0.1:4646`. */
export function normalizeAddress(address: string): string {
  const a = address.trim();
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(a) ? a : `http://${a}`;
}

export class DroverClient {
  readonly address: string;
  readonly jobs: JobsAPI;
  readonly allocations: AllocationsAPI;
  readonly evaluations: EvaluationsAPI;
  readonly nodes: NodesAPI;
  readonly deployments: DeploymentsAPI;
  readonly variables: VariablesAPI;
  /** The Consul-compatible key/value store. */
  readonly kv: KVAPI;
  readonly keyring: KeyringAPI;
  readonly services: ServicesAPI;
  readonly intentions: IntentionsAPI;
  readonly acl: ACLAPI;
  readonly namespaces: NamespacesAPI;
  readonly agent: AgentAPI;
  readonly status: StatusAPI;
  readonly operator: OperatorAPI;
  readonly events: EventsAPI;
  /** Scaling policies (the groups' `scaling` blocks). */
  readonly scaling: ScalingAPI;
  /** The transport, for endpoints that have no typed method yet. */
  readonly http: HttpTransport;

  constructor(cfg: DroverClientConfig = {}) {
    const address = normalizeAddress(
      cfg.address ?? process.env.DROVER_ADDR ?? process.env.NOMAD_ADDR ?? DEFAULT_ADDRESS,
    );
    this.http = new HttpTransport({
      address,
      namespace: cfg.namespace,
      region: cfg.region,
      token: cfg.token,
      fetch: cfg.fetch,
    });
    this.address = this.http.address;
    this.jobs = new JobsAPI(this.http);
    this.allocations = new AllocationsAPI(this.http);
    this.evaluations = new EvaluationsAPI(this.http);
    this.nodes = new NodesAPI(this.http);
    this.deployments = new DeploymentsAPI(this.http);
    this.acl = new ACLAPI(this.http);
    this.namespaces = new NamespacesAPI(this.http);
    this.variables = new VariablesAPI(this.http);
    this.kv = new KVAPI(this.http);
    this.keyring = new KeyringAPI(this.http);
    this.services = new ServicesAPI(this.http);
    this.intentions = new IntentionsAPI(this.http);
    this.agent = new AgentAPI(this.http);
    this.status = new StatusAPI(this.http);
    this.operator = new OperatorAPI(this.http);
    this.events = new EventsAPI(this.http);
    this.scaling = new ScalingAPI(this.http);
  }
}
