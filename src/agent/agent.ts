/**
 * The composition root: turns an AgentConfig into a running server, client, drivers and HTTP API.
 *
 *   start: data dir ─► server (state restored from SQLite) ─► gateway listening (fed by the catalog) ─►
 *          HTTP API listening ─► client (registers, recovers its tasks, watches its allocations)
 *   stop:  client stops watching (tasks keep running) ─► gateway drains ─► HTTP closes ─► server flushes and closes
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from '../logging/index.js';
import { pinoLogger } from '../logging/index.js';
import { createServer, type Server } from '../server/index.js';
import { createClient, HttpServerRPC, type Client } from '../client/index.js';
import { builtinDrivers } from '../drivers/index.js';
import { startHttpApi, type HttpApi } from '../http/index.js';
import type { AgentConfig } from './config.js';
import { DROVER_VERSION } from './version.js';
import { startAgentDns, type AgentDns } from './dns.js';
import { gatewayUrl, startAgentGateway } from './gateway.js';
import type { Gateway } from '../gateway/index.js';

/** Blocks that Drover parses and also acts on; anything else in a job file gets a warning on `job run`. */
export const SUPPORTED_FEATURES = new Set<string>(['restart', 'network', 'constraint', 'resources', 'env', 'config', 'meta', 'logs', 'kill_timeout', 'kill_signal', 'periodic', 'parameterized', 'dispatch_payload', 'scaling', 'migrate', 'update', 'template', 'change_script', 'service', 'check', 'disconnect', 'lifecycle', 'volume', 'volume_mount', 'reschedule', 'spread', 'affinity', 'ephemeral_disk']);

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
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, opts: { logger?: Logger } = {}): Promise<Agent> {
  const logger = opts.logger ?? pinoLogger(config.logLevel);
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const nodeName = config.name || hostname();

  let server: Server | undefined;
  if (config.server.enabled) {
    server = await createServer({
      dataDir: join(dataDir, 'server'),
      logger: logger.child({ component: 'server' }),
      region: config.region,
      datacenter: config.datacenter,
      numWorkers: config.server.numSchedulers,
      sqliteWorkerThread: config.server.sqliteWorkerThread,
      supportedFeatures: SUPPORTED_FEATURES,
      sqliteSynchronous: config.server.sqliteSynchronous,
      recover: config.server.recover,
      heartbeat: {
        minTTLms: config.server.minHeartbeatTTLms,
        maxHeartbeatsPerSecond: config.server.maxHeartbeatsPerSecond,
        graceMs: config.server.heartbeatGraceMs,
      },
    });
  }

  // Before the client: a gateway port already taken stops the start while only the server needs undoing.
  let gateway: Gateway | undefined;
  try {
    gateway = await startAgentGateway(config, server, logger);
  } catch (e) {
    await server?.stop();
    throw e;
  }

  let client: Client | undefined;
  if (config.client.enabled) {
    const rpc = server ?? new HttpServerRPC(config.client.servers);
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
      reserved: { cpu: config.client.reserved.cpu, memoryMB: config.client.reserved.memory, diskMB: config.client.reserved.disk },
      reservedPorts: config.client.reserved.reservedPorts,
      hostVolumes: config.client.hostVolumes,
      advertiseIP: config.client.networkInterfaceIP,
    });
    events.to = client;
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
      Gateway: { Enabled: gateway !== undefined, Address: gateway ? gatewayUrl(config.gateway.listen, gateway.port) : '' },
      DNS: { Enabled: dns !== undefined, Address: dns ? `${dns.server.host}:${dns.server.port}` : '', Domain: config.dns.domain },
    },
    member: { Name: `${nodeName}.${config.region}`, Addr: config.advertiseAddr, Port: http?.port ?? config.ports.http, Status: 'alive', Tags: { role: server ? 'nomad' : 'client', region: config.region, dc: config.datacenter, build: DROVER_VERSION } },
    stats: {},
  });

  // Assigned once the listener is up; agentSelf (above) reads it lazily, so it cannot be a const declared later.
  // eslint-disable-next-line prefer-const
  let http: HttpApi | undefined;
  const dns: AgentDns | undefined = await startAgentDns(config, server, logger);
  http = await startHttpApi({
    limits: config.limits,
    host: config.bindAddr,
    port: config.ports.http,
    server,
    client,
    agent: { self: agentSelf },
    logger: logger.child({ component: 'http' }),
    region: config.region,
  });
  server?.setAdvertiseAddress?.(`${config.advertiseAddr}:${http.port}`);
  // Servers forward client requests (logs, stats, restart, signal) for this node's allocations to this address.
  client?.setHTTPAddr(`${httpHost(config)}:${http.port}`);

  if (client) await client.start();

  let stopped = false;
  return {
    config,
    server,
    client,
    http,
    ...(dns ? { dns: dns.server } : {}),
    ...(gateway ? { gateway } : {}),
    logger,
    async stop() {
      if (stopped) return;
      stopped = true;
      await client?.stop();
      await gateway?.close();
      await http!.close();
      await dns?.stop();
      await server?.stop();
    },
  };
}

/** The host other agents reach this agent's HTTP API at: the bind address, unless it binds every interface. */
function httpHost(config: AgentConfig): string {
  const b = config.bindAddr;
  return b === '' || b === '0.0.0.0' || b === '::' || b === '[::]' ? config.advertiseAddr : b;
}
