/**
 * The composition root: turns an AgentConfig into a running server, client, drivers and HTTP API.
 *
 *   start: data dir ─► server (state restored from SQLite) ─► gateway listening (fed by the catalog) ─►
 *          HTTP API listening ─► client (registers, recovers its tasks, watches its allocations)
 *   stop:  client stops watching (tasks keep running) ─► gateway drains ─► HTTP closes ─► server flushes and closes
 */
import { mkdirSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from '../logging/index.js';
import { pinoLogger } from '../logging/index.js';
import { createServer, type Server, type ServerOptions } from '../server/index.js';
import { HaSeat } from './ha-seat.js';
import { inProcessRPC } from './in-process-rpc.js';
import { bridgeProblems, createClient, HttpServerRPC, type Client } from '../client/index.js';
import { builtinDrivers } from '../drivers/index.js';
import { startHttpApi, type HttpApi } from '../http/index.js';
import type { AgentConfig } from './config.js';
import { DROVER_VERSION } from './version.js';
import { startAgentDns, type AgentDns } from './dns.js';
import { chooseSidecarDataPlane, gatewayUrl, startAgentGateway } from './gateway.js';
import { agentAutoscalerOptions, type AutoscalerRefs } from './autoscaler.js';
import { clientIdentityCheck, isServerCertificate, loadTlsMaterial, serverIdentityCheck } from './tls.js';
import { TlsFetch } from '../lib/tls-fetch.js';
import type { Gateway } from '../gateway/index.js';
import { AclService, AuditLog, RemoteAclResolver } from '../acl/index.js';
import { badRequest } from '../errors/index.js';
import { Federation } from './federation.js';
import { MultiregionCoordinator } from './multiregion.js';
import { sleepOrAborted } from '../lib/sleep.js';
import { readKEKFile } from '../lib/kek.js';

/** Blocks that Drover parses and also acts on; anything else in a job file gets a warning on `job run`. */
export const SUPPORTED_FEATURES = new Set<string>([
  'restart',
  'network',
  'constraint',
  'resources',
  'env',
  'config',
  'meta',
  'logs',
  'kill_timeout',
  'kill_signal',
  'periodic',
  'parameterized',
  'dispatch_payload',
  'scaling',
  'migrate',
  'update',
  'template',
  'artifact',
  'change_script',
  'service',
  'connect',
  'check',
  'disconnect',
  'lifecycle',
  'volume',
  'volume_mount',
  'reschedule',
  'spread',
  'affinity',
  'ephemeral_disk',
  'identity',
  'multiregion',
]);

export interface Agent {
  config: AgentConfig;
  server?: Server;
  client?: Client;
  http: HttpApi;
  /** The DNS server, when enabled and started. */
  dns?: AgentDns['server'];
  /** The gateway, when enabled (`gateway` block; on in -dev). */
  gateway?: Gateway;
  logger: Logger;
  /** Reads the TLS files again (SIGHUP): new connections of the API and to the servers use them. */
  reloadTls(): void;
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, opts: { logger?: Logger } = {}): Promise<Agent> {
  const logger = opts.logger ?? pinoLogger(config.logLevel);
  const dataDir = resolve(config.dataDir);
  // Secrets live here (node secret, keyring, state): no access for other users.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const nodeName = config.name || hostname();
  // Before anything starts: a missing, truncated or mismatched certificate file stops the start with its name.
  const tlsOn = config.tls.http || config.tls.rpc;
  const tls = tlsOn ? loadTlsMaterial(config.tls) : undefined;
  // A bridge subnet overlapping a host network would route the host's own traffic into allocations.
  const bridge = { bridgeName: config.client.bridgeNetworkName, subnet: config.client.bridgeNetworkSubnet };
  const bridgeIssues = config.client.enabled ? bridgeProblems(bridge) : [];
  if (bridgeIssues.length > 0) throw badRequest(bridgeIssues.join('; '));
  const peerMaterial = (m: ReturnType<typeof loadTlsMaterial>) => ({
    toServers: { ...m, checkServerIdentity: serverIdentityCheck(config.region, config.tls.verifyServerHostname) },
    toClients: { ...m, checkServerIdentity: clientIdentityCheck(config.region, config.tls.verifyServerHostname) },
  });
  // One connection pool per peer role, shared by every caller (RPC, forwarding, token resolution, templates).
  const peers = tls
    ? { toServers: new TlsFetch(peerMaterial(tls).toServers), toClients: new TlsFetch(peerMaterial(tls).toClients) }
    : undefined;

  // Other regions' servers name their own region in their certificates: the CA and the address are checked.
  const crossRegion = tls && config.tls.http ? new TlsFetch({ ...tls }) : undefined;
  // Server agents know the other regions (federation) and roll multiregion jobs out through them.
  // Read first: a damaged address book stops the start before anything runs.
  const selfAddress = () => `${httpHost(config)}:${http?.port ?? config.ports.http}`;
  const federation = config.server.enabled
    ? new Federation({
        region: config.region,
        file: join(dataDir, 'server', 'regions.json'),
        self: selfAddress,
        logger: logger.child({ component: 'federation' }),
        ...(crossRegion ? { tls: { fetch: crossRegion.fetch } } : {}),
      })
    : undefined;
  let server: Server | undefined;
  let ha: HaSeat | undefined;
  let kek: Buffer | undefined;
  // Filled in as the server, the gateway and the client come up; the autoscaler reads them when it runs.
  const scalerRefs: AutoscalerRefs = { toClients: peers?.toClients };
  if (config.server.enabled) {
    const serverOpts: ServerOptions = {
      dataDir: join(dataDir, 'server'),
      logger: logger.child({ component: 'server' }),
      region: config.region,
      datacenter: config.datacenter,
      numWorkers: config.server.numSchedulers,
      sqliteWorkerThread: config.server.sqliteWorkerThread,
      supportedFeatures: SUPPORTED_FEATURES,
      sqliteSynchronous: config.server.sqliteSynchronous,
      evalGCThresholdMs: config.server.evalGCThresholdMs,
      mesh: config.server.mesh,
      ...(config.server.autoscaler?.enabled === false
        ? {}
        : { autoscaler: agentAutoscalerOptions(config, scalerRefs) }),
      recover: config.server.recover,
      etcd: config.server.etcd,
      heartbeat: {
        minTTLms: config.server.minHeartbeatTTLms,
        maxHeartbeatsPerSecond: config.server.maxHeartbeatsPerSecond,
        graceMs: config.server.heartbeatGraceMs,
      },
    };
    // Servers sharing etcd share the variables' root keys and the signing key through it, wrapped with the KEK.
    kek = config.server.keyringKEKFile ? readKEKFile(resolve(config.server.keyringKEKFile)) : undefined;
    if (config.server.etcd && !kek && (config.acl.enabled || config.tls.http || config.tls.rpc))
      throw badRequest(
        'server.keyring_kek_file is required with server.etcd and acl { enabled = true } or tls {}: the servers share their keyring and signing key through etcd, wrapped with that key-encryption key (create one with "openssl rand -base64 32 > kek && chmod 600 kek" and give every server the same file; docs/operations.md, "Run a cluster")',
      );
    if (config.server.etcd && !kek)
      logger.warn(
        'server.etcd without server.keyring_kek_file: the variables keyring is kept in etcd unwrapped; set keyring_kek_file',
      );
    if (config.server.etcd) serverOpts.sharedKeyring = { kek };
    if (config.server.etcd) {
      // Several servers share the etcd state: this one leads or stands by (see ha-seat.ts).
      ha = new HaSeat({ ...serverOpts, etcd: config.server.etcd }, logger.child({ component: 'server' }));
      await ha.check();
      server = ha.proxy;
    } else server = await createServer(serverOpts);
    scalerRefs.server = server;
  }

  // Namespaces exist with or without ACLs; with `acl { enabled = true }` every request is checked, and tasks get
  // signed workload identities (the signing key is made once and kept in the state store).
  let acl: AclService | undefined;
  if (server) {
    // On etcd the store belongs to whichever Server leads now: read it through the seat, never keep one.
    const seat = ha;
    const local = server;
    acl = new AclService({
      store: seat ? () => seat.readStore() : local.store,
      enabled: config.acl.enabled,
      dataDir: join(dataDir, 'server'),
      region: config.region,
      ...(kek ? { kek } : {}),
    });
    if (config.acl.enabled) {
      const signer = acl;
      // On etcd only the leader writes: each server that comes to lead makes sure the cluster has a key.
      if (seat) seat.onLeading = () => signer.ensureSigningKey();
      else await acl.ensureSigningKey();
      server.setIdentitySigner((alloc) => signer.signIdentities(alloc));
    }
  }
  const audit = config.audit.enabled
    ? new AuditLog(
        {
          path: resolve(dataDir, config.audit.path),
          rotateBytes: config.audit.rotateBytes,
          rotateMaxFiles: config.audit.rotateMaxFiles,
        },
        (e) => logger.error('audit log write failed', { error: String(e) }),
      )
    : undefined;

  // Before the client: a gateway port already taken stops the start while only the server needs undoing.
  let gateway: Gateway | undefined;
  try {
    gateway = await startAgentGateway(config, server, logger);
    scalerRefs.gateway = gateway;
  } catch (e) {
    await server?.stop();
    throw e;
  }

  let client: Client | undefined;
  // Set once DNS is up (after the client exists); a bridge set up before then gets the host's nameservers.
  const bridgeDns: { to?: AgentDns } = {};
  let remoteRPC: HttpServerRPC | undefined;
  if (config.client.enabled) {
    // With ACLs on, a client agent registers with a node:write token from its environment (NOMAD_TOKEN or
    // DROVER_TOKEN) or with a verified mutual-TLS certificate; afterwards its node secret is enough.
    const nodeToken = process.env['DROVER_TOKEN'] || process.env['NOMAD_TOKEN'] || undefined;
    if (!server)
      remoteRPC = new HttpServerRPC(config.client.servers, {
        ...(config.tls.rpc && peers ? { tls: peers.toServers } : {}),
        ...(nodeToken ? { token: nodeToken } : {}),
      });
    // With ACLs on, a task's template reads KV as the task's workload identity on either path.
    const rpc = server ? inProcessRPC(server, config.acl.enabled ? acl : undefined) : remoteRPC!;
    // Drivers exist before the client that owns task events; their events go to it once it does.
    const events: { to?: Client } = {};
    const onEvent = (taskID: string, type: string, message: string) => events.to?.driverEvent(taskID, type, message);
    client = await createClient({
      rpc,
      dataDir: join(dataDir, 'client'),
      logger: logger.child({ component: 'client' }),
      nodeName,
      datacenter: config.datacenter,
      region: config.region,
      nodePool: config.client.nodePool,
      nodeClass: config.client.nodeClass,
      meta: config.client.meta,
      drivers: builtinDrivers(config.plugins, { dev: config.dev, logger, dataDir, onEvent }),
      portRange: { min: config.client.minDynamicPort, max: config.client.maxDynamicPort },
      reserved: {
        cpu: config.client.reserved.cpu,
        memoryMB: config.client.reserved.memory,
        diskMB: config.client.reserved.disk,
      },
      reservedPorts: config.client.reserved.reservedPorts,
      hostVolumes: config.client.hostVolumes,
      advertiseIP: config.client.networkInterfaceIP,
      network: { ...bridge, cniPath: config.client.cniPath, cniConfigDir: config.client.cniConfigDir },
      artifact: config.client.artifact,
      sidecarDataPlane: chooseSidecarDataPlane(config.client.connect.sidecarDataPlane, logger),
      // Tasks in bridge mode resolve `*.service.<domain>` through the agent's DNS on the bridge gateway.
      bridgeDns: (gateway) => bridgeDns.to?.listenOn(gateway, 53) ?? Promise.resolve(false),
    });
    events.to = client;
    scalerRefs.client = client;
  }

  const agentSelf = () => ({
    config: {
      Region: config.region,
      Datacenter: config.datacenter,
      NodeName: nodeName,
      DataDir: dataDir,
      Version: { Version: DROVER_VERSION },
      Server: { Enabled: config.server.enabled },
      Client: { Enabled: config.client.enabled, NodeClass: config.client.nodeClass, NodePool: config.client.nodePool },
      Ports: { HTTP: http?.port ?? config.ports.http, DNS: dns?.server.port ?? 0 },
      Gateway: {
        Enabled: gateway !== undefined,
        Address: gateway ? gatewayUrl(config.gateway.listen, gateway.port) : '',
        DataPlane: gateway?.dataPlane ?? '',
      },
      DNS: {
        Enabled: dns !== undefined,
        Address: dns ? `${dns.server.host}:${dns.server.port}` : '',
        Domain: config.dns.domain,
      },
    },
    member: {
      Name: `${nodeName}.${config.region}`,
      Addr: config.advertiseAddr,
      Port: http?.port ?? config.ports.http,
      Status: 'alive' as const,
      Tags: { role: server ? 'nomad' : 'client', region: config.region, dc: config.datacenter, build: DROVER_VERSION },
    },
    stats: {},
  });

  const multiregion = federation
    ? new MultiregionCoordinator({
        region: config.region,
        regions: federation,
        self: () => `${config.tls.http ? 'https' : 'http'}://${selfAddress()}`,
        logger: logger.child({ component: 'multiregion' }),
        // In the server's state, so the next leader (or this server after a restart) continues a rollout.
        ...(server
          ? {
              store: {
                all: () => [...server.store.snapshot().tables.all('multiregion_rollouts')],
                put: async (row) => void (await server.store.write((tx) => tx.put('multiregion_rollouts', row))),
              },
            }
          : {}),
      })
    : undefined;

  // Assigned once the listener is up; agentSelf (above) reads it lazily, so it cannot be a const declared later.
  // eslint-disable-next-line prefer-const
  let http: HttpApi | undefined;
  const dns: AgentDns | undefined = await startAgentDns(config, server, logger);
  bridgeDns.to = dns;
  http = await startHttpApi({
    limits: config.limits,
    host: config.bindAddr,
    port: config.ports.http,
    server,
    client,
    agent: { self: agentSelf },
    logger: logger.child({ component: 'http' }),
    ...(ha
      ? {
          forwardTo: (method: string, path: string, query: URLSearchParams) => ha.forwardTo(method, path, query),
          holdForLeader: (method: string, path: string, query: URLSearchParams, signal: () => AbortSignal) =>
            ha.holdForLeader(method, path, query, signal),
          answerLocally: <T>(method: string, fn: () => Promise<T>) => ha.answerLocally(method, fn),
          leaderContact: () => ha.leaderContact(),
          cluster: ha,
        }
      : {}),
    // A client-only agent forwards the API calls it does not answer itself to the server its client uses.
    ...(remoteRPC
      ? {
          forwardTo: (_method: string, path: string) => (CLIENT_LOCAL.test(path) ? undefined : remoteRPC.currentServer),
          clientServers: () => remoteRPC.servers.map((s) => s.replace(/^https?:\/\//, '')),
        }
      : {}),
    acl,
    // A client-only agent asks the servers who a token is (cached 30 s, as Nomad's token_ttl).
    aclGate:
      !server && config.acl.enabled && remoteRPC
        ? new RemoteAclResolver({
            // The servers as the client's RPC reaches them: https and its TLS pool when TLS is on.
            servers: remoteRPC.servers,
            fetch: remoteRPC.serverFetch,
            hasAlloc: (id) => client?.hasAlloc(id) ?? false,
          })
        : undefined,
    audit,
    ...(config.tls.http && tls
      ? {
          tls: { material: tls, requireClientCert: config.tls.verifyHttpsClient },
          peerTls: peers,
          isServerPeer: (cert: PeerCertificate) => isServerCertificate(config.region, cert),
        }
      : {}),
    region: config.region,
    ...(federation ? { regions: federation, multiregion } : {}),
  });
  await ha?.start(`${config.tls.http ? 'https' : 'http'}://${httpHost(config)}:${http.port}`, agentSelf().member);
  server?.setAdvertiseAddress?.(`${config.advertiseAddr}:${http.port}`);
  // Servers forward client requests (logs, stats, restart, signal) for this node's allocations to this address.
  client?.setHTTPAddr(`${httpHost(config)}:${http.port}`);

  if (client) await client.start();
  federation?.start();
  multiregion?.resume();
  const joinAbort = new AbortController();
  const joining =
    federation && config.server.serverJoin
      ? retryJoin(config, http, joinAbort.signal, logger, peers?.toServers.fetch)
      : undefined;

  let stopped = false;
  return {
    config,
    server,
    client,
    http,
    ...(dns ? { dns: dns.server } : {}),
    ...(gateway ? { gateway } : {}),
    logger,
    reloadTls() {
      if (!tlsOn) return;
      const m = loadTlsMaterial(config.tls);
      if (config.tls.http) http!.setTls?.(m);
      // The RPC, forwarding and token resolution share these pools: one reload reaches them all.
      peers?.toServers.use(peerMaterial(m).toServers);
      peers?.toClients.use(peerMaterial(m).toClients);
      crossRegion?.use({ ...m });
      logger.info('TLS certificates reloaded', { cert_file: config.tls.certFile });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      joinAbort.abort();
      await joining;
      await multiregion?.stop();
      await federation?.stop();
      await client?.stop();
      await gateway?.close();
      await http!.close();
      await dns?.stop();
      await server?.stop();
      await peers?.toServers.close();
      await peers?.toClients.close();
      await crossRegion?.close();
    },
  };
}

/** What a client-only agent answers itself; every other `/v1/` call goes to a server. */
const CLIENT_LOCAL = /^\/v1\/(agent\/(self|health|servers$)|client\/|regions$)|^\/(ui\b|$)|^\/(?!v1\/)/;

/** The host other agents reach this agent's HTTP API at: the bind address, unless it binds every interface. */
function httpHost(config: AgentConfig): string {
  const b = config.bindAddr;
  return b === '' || b === '0.0.0.0' || b === '::' || b === '[::]' ? config.advertiseAddr : b;
}

/**
 * `server_join { retry_join }`: joins the listed servers through this agent's own join endpoint (the same path as
 * `drover server join`), retrying those that fail every retry_interval, at most retry_max times (0: forever).
 */
async function retryJoin(
  config: AgentConfig,
  http: HttpApi,
  signal: AbortSignal,
  logger: Logger,
  tlsFetch: typeof fetch | undefined,
): Promise<void> {
  // Its own API, as any caller: over mutual TLS with its certificate when TLS is on, and with ACLs on with the
  // token in its environment (agent:write here and in the regions it joins).
  const scheme = config.tls.http ? 'https' : 'http';
  const call = config.tls.http && tlsFetch ? tlsFetch : fetch;
  const token = process.env['DROVER_TOKEN'] || process.env['NOMAD_TOKEN'] || undefined;
  const j = config.server.serverJoin!;
  let left = [...j.retryJoin];
  for (let attempt = 1; left.length > 0 && !signal.aborted; attempt++) {
    const failed: string[] = [];
    for (const a of left) {
      try {
        const res = await call(
          `${scheme}://${httpHost(config)}:${http.port}/v1/agent/join?address=${encodeURIComponent(a)}`,
          { method: 'PUT', signal, ...(token ? { headers: { 'X-Nomad-Token': token } } : {}) },
        );
        const body = (await res.json()) as { num_joined?: number; error?: string };
        if (!res.ok || body.error) throw new Error(body.error || `status ${res.status}`);
        logger.info('server_join: joined', { address: a });
      } catch (e) {
        if (signal.aborted) return;
        failed.push(a);
        logger.warn('server_join: join failed, will retry', { address: a, attempt, error: String(e) });
      }
    }
    left = failed;
    if (left.length === 0 || (j.retryMax > 0 && attempt >= j.retryMax)) break;
    await sleepOrAborted(j.retryIntervalMs, signal);
  }
  if (left.length > 0 && !signal.aborted)
    logger.error('server_join: gave up after retry_max attempts', { addresses: left.join(',') });
}
