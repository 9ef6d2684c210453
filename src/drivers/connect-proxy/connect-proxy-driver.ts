/**
 * connect_proxy: runs Drover's built-in sidecar proxy (src/mesh/sidecar.ts, as built in dist/) for the
 * `connect-proxy-<service>` task the servers inject into a Connect group. It is raw_exec with a fixed command:
 * the agent's own node binary and the sidecar script, entered into the allocation's network namespace with
 * nsenter. So it is on whenever this build ships the sidecar, whatever raw_exec's own switch says: the command
 * is the agent's, never the job's. The client writes the sidecar's config to `secrets/sidecar.json`; when it
 * chose the HAProxy data plane it writes `secrets/haproxy/haproxy.cfg` instead, and this driver runs HAProxy
 * (master-worker, in the foreground, its master CLI next to the config) in place of the Node sidecar.
 */
import { existsSync } from 'node:fs';
import { findExecutable } from '../../lib/haproxy/binary.js';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DriverFingerprint, TaskConfig, TaskHandle } from '../types.js';
import { driverError } from '../shared/index.js';
import { RawExecDriver } from '../raw-exec/index.js';

/** Where the sidecar's config lives inside the task dir (the client's mesh hook writes it). */
export const SIDECAR_CONFIG_FILE = 'sidecar.json';
/** The HAProxy sidecar's directory and config inside the secrets dir (src/mesh/haproxy-sidecar.ts's layout). */
export const HAPROXY_SIDECAR_CONFIG_PATH = ['haproxy', 'haproxy.cfg'] as const;

const SIDECAR_SCRIPT = fileURLToPath(new URL('../../mesh/sidecar.js', import.meta.url));

export class ConnectProxyDriver extends RawExecDriver {
  override readonly name: string = 'connect_proxy';

  constructor(private readonly script = SIDECAR_SCRIPT) {
    super({ enabled: true });
  }

  override async fingerprint(): Promise<DriverFingerprint> {
    if (process.platform !== 'linux' || !existsSync(this.script))
      return { health: 'undetected', healthDescription: 'the sidecar proxy is not built', attributes: {} };
    return { health: 'healthy', healthDescription: 'Healthy', attributes: { 'driver.connect_proxy': '1' } };
  }

  /** The command lines this driver built: raw_exec's own checks apply to them, not the "no config" rule. */
  private readonly built = new WeakSet<object>();

  override validateConfig(config: Record<string, unknown>): string[] {
    if (this.built.has(config)) return super.validateConfig(config);
    return Object.keys(config).map((k) => `connect_proxy takes no config (got "${k}"): Drover runs its own proxy`);
  }

  override async startTask(cfg: TaskConfig, signal?: AbortSignal): Promise<{ handle: TaskHandle }> {
    const problems = this.validateConfig(cfg.config);
    if (problems.length > 0) throw driverError(`invalid connect_proxy config: ${problems.join('; ')}`, false);
    if (!cfg.netnsPath)
      throw driverError('a Connect sidecar runs only in a group with network { mode = "bridge" }', false);
    const haproxyCfg = join(cfg.dirs.secretsDir, ...HAPROXY_SIDECAR_CONFIG_PATH);
    let config: { command: string; args: string[] };
    if (existsSync(haproxyCfg)) {
      const bin = findExecutable('haproxy');
      if (!bin) throw driverError('the sidecar was set up for HAProxy, but no haproxy binary is on PATH', false);
      // Relative to the task dir, HAProxy's working directory: a unix socket path holds 107 bytes.
      const master = relative(cfg.dirs.dir, join(cfg.dirs.secretsDir, HAPROXY_SIDECAR_CONFIG_PATH[0], 'm.sock'));
      config = { command: bin, args: ['-W', '-db', '-S', `unix@${master},mode,600`, '-f', haproxyCfg] };
    } else {
      config = { command: process.execPath, args: [this.script, join(cfg.dirs.secretsDir, SIDECAR_CONFIG_FILE)] };
    }
    this.built.add(config);
    return super.startTask({ ...cfg, config }, signal);
  }
}
