/**
 * The built-in drivers and how the agent's client config turns them on. As in Nomad, each driver has a
 * `plugin "<name>" { config { ... } }` block; raw_exec is disabled unless enabled there (the -dev agent enables it).
 */
import type { TaskDriver } from './types.js';
import { MockDriver } from './mock/index.js';
import { RawExecDriver } from './raw-exec/index.js';

export interface DriverPluginConfig {
  /** Only meaningful for drivers that are off by default (raw_exec). */
  enabled?: boolean;
  /** The rest of the plugin's `config` block, passed to the driver. */
  options?: Record<string, unknown>;
}

export interface BuiltinDriversConfig {
  /** -dev mode: raw_exec and mock_driver on. */
  dev?: boolean;
  /** Per plugin name (`raw_exec`, `mock_driver`, `docker`, `exec`). */
  plugins?: Record<string, DriverPluginConfig>;
  /** Plugin names to leave out entirely (Nomad's client `driver.denylist`). */
  denylist?: string[];
}

export interface DriverFactory {
  name: string;
  create(cfg: DriverPluginConfig, all: BuiltinDriversConfig): TaskDriver | undefined;
}

/**
 * Every built-in driver. The docker and exec drivers are added here: one line each, e.g.
 *   { name: 'docker', create: (c) => new DockerDriver(c.options ?? {}) },
 */
export const DRIVER_FACTORIES: DriverFactory[] = [
  { name: 'raw_exec', create: (c, all) => new RawExecDriver({ enabled: pluginEnabled(c, all.dev === true) }) },
  // Nomad only loads mock_driver in dev/test builds; Drover does the same unless the plugin block enables it.
  { name: 'mock_driver', create: (c, all) => (pluginEnabled(c, all.dev === true) ? new MockDriver() : undefined) },
  // docker/exec: add their factories below this line.
];

/** `enabled` may sit on the plugin or inside its options (the HCL `config { enabled = true }` form). */
function pluginEnabled(c: DriverPluginConfig, byDefault: boolean): boolean {
  if (typeof c.enabled === 'boolean') return c.enabled;
  if (typeof c.options?.enabled === 'boolean') return c.options.enabled;
  return byDefault;
}

/** The drivers the client loads for this config. */
export function builtinDrivers(config: BuiltinDriversConfig = {}): TaskDriver[] {
  const out: TaskDriver[] = [];
  for (const f of DRIVER_FACTORIES) {
    if (config.denylist?.includes(f.name)) continue;
    const d = f.create(config.plugins?.[f.name] ?? {}, config);
    if (d) out.push(d);
  }
  return out;
}

/** Task `driver = "mock"` is accepted for `mock_driver`. */
export function canonicalDriverName(name: string): string {
  return name === 'mock' ? 'mock_driver' : name;
}
