/**
 * The gateway's inputs and outputs. The gateway does not import the catalog: anything that can yield the set of
 * passing instances (the in-memory source in tests, the HTTP source following an agent) feeds it.
 */
import type { Logger } from '../logging/index.js';
import type { CertInfo, CertStore } from './tls/certs.js';

/** One passing service instance, as the gateway needs it. */
export interface GatewayInstance {
  ID: string;
  ServiceName: string;
  Address: string;
  Port: number;
  Tags: string[];
  AllocID: string;
  NodeID: string;
  /** Sources should only yield passing instances; an instance with `Healthy: false` is ignored anyway. */
  Healthy: boolean;
}

/** Where the gateway learns the instances from. */
export interface CatalogSource {
  /**
   * Yields the full set of passing instances each time it changes (the first value as soon as it is known).
   * Ends when `signal` aborts. A source may coalesce rapid changes: only the latest set matters.
   */
  watch(signal: AbortSignal): AsyncIterable<GatewayInstance[]>;
}

export type LoadBalancing = 'round_robin' | 'least_conn';

/** A route parsed from one service tag, before instances are grouped under it. */
export interface RouteSpec {
  /** Lower-case host without port, or '' for a hostless route. */
  host: string;
  /** Path prefix, always starting with '/'. */
  prefix: string;
  /** Prefix removed from the path before forwarding, or '' for none. */
  strip: string;
  /** Balancing for this route, when the tag chose one. */
  lb?: LoadBalancing;
  /** How the gateway talks to the instances; http when absent. tcp and tcp+sni routes have their own listener. */
  proto?: RouteProto;
  /** The port a TCP route listens on (`urlprefix-:5432 proto=tcp`). */
  listenPort?: number;
  /** This service's share of the route's requests (0..1); unweighted services share the rest. */
  weight?: number;
  /** Path added in front of the (stripped) path before forwarding, without a trailing '/'. */
  addPrefix?: string;
  /** proto=https: skip verifying the instances' certificates. */
  tlsSkipVerify?: boolean;
  /** Host header sent to the instances instead of the client's. */
  upstreamHost?: string;
  /** Plain-HTTP requests get a 301 to https. */
  redirectHttps?: boolean;
  /** Basic auth against the users of Variable gateway/auth/<auth>. */
  auth?: string;
  /** Client CIDRs let in (all when absent) and refused. */
  allow?: string[];
  deny?: string[];
  /** Requests per second per client address. */
  rate?: number;
  /** Largest request body in bytes. */
  maxBody?: number;
  /** Response headers set on every answer. */
  headers?: [string, string][];
  /** Why the tag cannot be served as written; the route is listed with this error and gets no traffic. */
  error?: string;
}

export type RouteProto = 'http' | 'https' | 'tcp' | 'tcp+sni';

/** Basic-auth users per `auth=` name: user → SHA-512 crypt hash (`$6$...`). */
export interface AuthSource {
  /** The users of one auth name, or undefined when there is no such Variable (every request then gets 401). */
  users(name: string): ReadonlyMap<string, string> | undefined;
  /** Calls `onChange` whenever some users change (the HAProxy plane re-renders its userlists); returns an unsubscribe. */
  subscribe?(onChange: () => void): () => void;
}

/** One instance behind a route, as shown by the admin API. */
export interface RouteTargetInfo {
  ID: string;
  ServiceName: string;
  AllocID: string;
  NodeID: string;
  Address: string;
  Port: number;
  /** Requests in flight to this instance now. */
  Active: number;
  /** Ejected after consecutive connect failures; re-admitted at `EjectedUntil` (ms since epoch), or 0. */
  EjectedUntil: number;
}

/** One live route, as shown by `GET /routes` and `drover gateway routes`. */
export interface RouteInfo {
  /** `host/prefix`, or `/prefix` for a hostless route: the name used in metrics and error pages. */
  Name: string;
  Host: string;
  Prefix: string;
  Strip: string;
  LB: LoadBalancing;
  Services: string[];
  Targets: RouteTargetInfo[];
  /** http (default), https, tcp or tcp+sni. */
  Proto?: RouteProto;
  /** The route's other options as written (auth, allow, rate, weight per service...), for display. */
  Options?: string[];
  /** Why this route is not served (unknown option, port taken...); it has no targets then. */
  Error?: string;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface GatewayOptions {
  /** Ports TCP routes may listen on (`tcp_ports`); unset: 1024-65535. */
  tcpPorts?: readonly (readonly [number, number])[];
  /** Where clients connect; port 0 picks a free one. */
  listen: ListenAddress;
  /** Admin listener serving `GET /routes` and `GET /metrics`; when absent they are served on the main
   * listener under the reserved prefix `/_drover/gateway/` instead. */
  admin?: ListenAddress;
  source: CatalogSource;
  logger: Logger;
  /** Default balancing for routes whose tag does not choose one. Default round_robin. */
  lb?: LoadBalancing;
  /** Attempts per request across different instances when connecting fails. Default 3. */
  maxAttempts?: number;
  /** Consecutive connect failures that eject an instance. Default 3. */
  ejectAfter?: number;
  /** How long an ejected instance stays out, in ms. Default 10_000. */
  ejectForMs?: number;
  /** Idle keep-alive sockets kept per instance. Default 64. */
  maxIdleSockets?: number;
  /**
   * Gives up on a backend that has not answered this many ms after the request was sent (504); checked on one
   * shared timer, so it fires up to a quarter of the timeout late. 0 turns it off. Default 60_000.
   */
  responseTimeoutMs?: number;
  /**
   * Serve plain bodiless HTTP/1.1 requests on the raw-socket fast path (src/gateway/fast.ts), the rest through
   * node:http. Default true; false sends everything through node:http.
   */
  fastPath?: boolean;
  /** A request head must be complete this many ms after its first byte (node:http's `headersTimeout`). Default 60_000. */
  headersTimeoutMs?: number;
  /** Largest request head in bytes (node:http's `maxHeaderSize`). Default `http.maxHeaderSize` (16 KiB). */
  maxHeaderSize?: number;
  /** Clock for ejection, injected for tests. Default Date.now. */
  now?: () => number;
  /** Users for `auth=` routes; without it every auth route answers 401. */
  auth?: AuthSource;
  /** The port `redirect=https` sends clients to; 443 (left out of the URL) by default. */
  httpsPort?: number;
  /** A TLS listener (HTTP/2 and HTTP/1.1) with certificates chosen by SNI from `certs`. */
  tls?: GatewayTlsOptions;
}

export interface GatewayTlsOptions {
  listen: ListenAddress;
  /** Certificates by SNI name; the gateway follows its changes (next handshake, no restart). */
  certs: CertStore;
  /**
   * Answers HTTP-01 challenges (`/.well-known/acme-challenge/<token>`) on the plain listener: the key
   * authorization for a token, or undefined when there is none (a promise when it is looked up in the state, so
   * any gateway answers for the one that ordered).
   */
  acmeChallenge?: (token: string) => string | undefined | Promise<string | undefined>;
}

/** A gateway's data plane. */
export type DataPlane = 'node' | 'haproxy';

export interface Gateway {
  /** Which data plane forwards the traffic: `node` (this process) or `haproxy` (a child HAProxy). */
  readonly dataPlane: DataPlane;
  /** The port the proxy listens on. */
  readonly port: number;
  /** The TLS port, or undefined without a TLS listener. */
  readonly tlsPort?: number;
  /** Configured certificates, with whether each is served and why not. */
  certs(): CertInfo[];
  /** The admin port, or undefined when admin endpoints share the main listener. */
  readonly adminPort: number | undefined;
  /** The live routing table. */
  routes(): RouteInfo[];
  /** Resolves once the first set of instances from the source has been applied. */
  ready(signal?: AbortSignal): Promise<void>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`, default 5000), then closes everything. */
  close(graceMs?: number): Promise<void>;
}
