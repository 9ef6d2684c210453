/**
 * The built-in drivers and how the agent's config turns them on. As in Nomad, each driver has a
 * `plugin "<name>" { config { ... } }` block; raw_exec is disabled unless `enabled = true` there (the -dev agent
 * enables it), and mock_driver is loaded only in -dev or when its plugin block enables it.
 */
import type { Logger } from '../logging/index.js';
import { nullLogger } from '../logging/index.js';
import type { TaskDriver } from './types.js';
import { MockDriver } from './mock/index.js';
import { RawExecDriver } from './raw-exec/index.js';
import { ConnectProxyDriver } from './connect-proxy/index.js';
import { DockerDriver } from './docker/index.js';
import { DEFAULT_CAPS, ExecDriver } from './exec/index.js';
import { taskPolicyFrom } from './shared/index.js';

/** One `plugin "<name>"` block of the agent config. */
export interface DriverPluginBlock {
  /** Shorthand for `config { enabled = ... }`. */
  enabled?: boolean;
  /** The plugin's `config` block. */
  config?: Record<string, unknown>;
}

/**
 * Where drivers report task events (image pulls, OOM kills) by task ID; the client turns them into TaskEvents
 * on the task's state. `type` is a Nomad task event type ("Driver", "OOM Killed").
 */
export type DriverEventSink = (taskID: string, type: string, message: string) => void;

export interface BuiltinDriversOptions {
  /** -dev agent: raw_exec and mock_driver are on unless their block says otherwise. */
  dev?: boolean;
  logger?: Logger;
  /** Plugin names to leave out entirely (Nomad's client `driver.denylist`). */
  denylist?: string[];
  /** The agent's data dir; drivers that keep their own state (exec's runc bundles) live under it. */
  dataDir?: string;
  /** Task events from the drivers that report them (docker, exec). */
  onEvent?: DriverEventSink;
}

export interface DriverFactoryContext {
  /** The plugin block's `config` (empty when the agent config has no block for it). */
  options: Record<string, unknown>;
  /** `enabled` from the block, or the default for this agent (true in -dev). */
  enabled: boolean;
  dev: boolean;
  logger: Logger;
  dataDir?: string;
  onEvent?: DriverEventSink;
}

export interface DriverFactory {
  name: string;
  /** Returns undefined to leave the driver out. */
  create(ctx: DriverFactoryContext): TaskDriver | undefined;
}

/**
 * Every built-in driver. The docker and exec drivers are added here, one line each, e.g.
 *   { name: 'docker', create: (c) => new DockerDriver({ ...c.options, logger: c.logger }) },
 */
export const DRIVER_FACTORIES: DriverFactory[] = [
  { name: 'raw_exec', create: (c) => new RawExecDriver({ enabled: c.enabled }) },
  // The built-in Connect sidecar (src/mesh); `plugin "connect_proxy" { enabled = false }` leaves it out.
  { name: 'connect_proxy', create: (c) => (c.options['enabled'] === false ? undefined : new ConnectProxyDriver()) },
  { name: 'mock_driver', create: (c) => (c.enabled ? new MockDriver() : undefined) },
  {
    // Docker is on by default, as in Nomad; `volumes { enabled = true }` allows host paths,
    // `allow_privileged = true` allows privileged containers, `endpoint` names the engine's unix socket,
    // `infra_image` the local image of the pause containers of groups in bridge mode.
    name: 'docker',
    create: (c) =>
      c.options['enabled'] === false
        ? undefined
        : new DockerDriver({
            socketPath: dockerSocket(c.options['endpoint']),
            allowHostVolumes: (firstBlock(c.options['volumes'])?.['enabled'] as boolean | undefined) ?? false,
            allowPrivileged: c.options['allow_privileged'] === true,
            allowCaps: Array.isArray(c.options['allow_caps']) ? (c.options['allow_caps'] as string[]) : undefined,
            policy: taskPolicyFrom(c.options),
            ...(typeof c.options['infra_image'] === 'string' ? { infraImage: c.options['infra_image'] } : {}),
            logger: c.logger,
            onEvent: c.onEvent,
          }),
  },
  {
    name: 'exec',
    create: (c) =>
      c.options['enabled'] === false
        ? undefined
        : new ExecDriver({
            dataDir: c.dataDir ? `${c.dataDir}/exec` : undefined,
            logger: c.logger,
            onEvent: c.onEvent,
            policy: taskPolicyFrom(c.options, DEFAULT_CAPS),
          }),
  },
];

/** Nomad's docker `endpoint = "unix:///var/run/docker.sock"`; only unix sockets are supported. */
function dockerSocket(endpoint: unknown): string | undefined {
  if (typeof endpoint !== 'string' || endpoint === '') return undefined;
  return endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : endpoint;
}

/** Agent config blocks arrive as objects or one-element lists (HCL/JSON); take the object. */
function firstBlock(v: unknown): Record<string, unknown> | undefined {
  if (Array.isArray(v)) return firstBlock(v[0]);
  return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
}

function pluginEnabled(block: DriverPluginBlock | undefined, byDefault: boolean): boolean {
  if (typeof block?.enabled === 'boolean') return block.enabled;
  if (typeof block?.config?.enabled === 'boolean') return block.config.enabled;
  return byDefault;
}

/** The drivers the client loads for this agent config: `builtinDrivers(config.plugins, { dev })`. */
export function builtinDrivers(
  plugins: Record<string, DriverPluginBlock> = {},
  opts: BuiltinDriversOptions = {},
): TaskDriver[] {
  const out: TaskDriver[] = [];
  const dev = opts.dev === true;
  for (const f of DRIVER_FACTORIES) {
    if (opts.denylist?.includes(f.name)) continue;
    const block = plugins[f.name] ?? (f.name === 'mock_driver' ? plugins.mock : undefined);
    const d = f.create({
      options: block?.config ?? {},
      enabled: pluginEnabled(block, dev),
      dev,
      logger: opts.logger ?? nullLogger,
      dataDir: opts.dataDir,
      onEvent: opts.onEvent,
    });
    if (d) out.push(d);
  }
  return out;
}

/** Task `driver = "mock"` is accepted for `mock_driver`. */
export function canonicalDriverName(name: string): string {
  return name === 'mock' ? 'mock_driver' : name;
}
