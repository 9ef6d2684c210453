/**
 * Runs CNI plugin binaries by the CNI protocol (no Go libcni here): the command, the container id, the netns
 * path and the interface name go in CNI_* environment variables, the network config on stdin; the result (or a
 * CNI error object) comes back on stdout.
 *
 *   ADD: plugin[0] ─► plugin[1] (prevResult = result of 0) ─► ... ─► final result (IPs, interfaces)
 *   DEL: plugin[n] ─► ... ─► plugin[0], each given the cached result as prevResult; errors are collected, the
 *        rest still runs (a half-deleted chain must not leak the other plugins' state)
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DroverError } from '../../errors/index.js';

/** One plugin entry of a conflist (`type` names the binary). */
export type CniPluginConf = { type: string; capabilities?: Record<string, boolean> } & Record<string, unknown>;

export interface CniConfList {
  cniVersion: string;
  name: string;
  plugins: CniPluginConf[];
}

export interface CniRuntime {
  containerID: string;
  netnsPath: string;
  ifName: string;
  /** Directories searched for plugin binaries, in order. */
  binDirs: string[];
  /** Capability arguments (`portMappings`), given to the plugins that declare the capability. */
  capabilityArgs?: Record<string, unknown>;
  /** Told how long each plugin run took (the net-setup benchmark's profile). */
  onPluginRun?: (type: string, command: string, ms: number) => void;
}

/** What a successful ADD returns (CNI 0.4.0 / 1.0.0 result). */
export interface CniResult {
  cniVersion?: string;
  interfaces?: Array<{ name: string; mac?: string; sandbox?: string }>;
  ips?: Array<{ address: string; gateway?: string; interface?: number; version?: string }>;
  routes?: unknown[];
  dns?: unknown;
}

const PLUGIN_TIMEOUT_MS = 30_000;

/** The path of a plugin binary, or undefined when no directory holds it. */
export function findPlugin(type: string, binDirs: string[]): string | undefined {
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) return undefined;
  for (const d of binDirs) {
    const p = join(d, type);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Every plugin type of the list that no directory holds (checked before anything is created). */
export function missingPlugins(list: CniConfList, binDirs: string[]): string[] {
  return list.plugins.map((p) => p.type).filter((t) => findPlugin(t, binDirs) === undefined);
}

function cniError(list: CniConfList, type: string, command: string, msg: string): DroverError {
  return new DroverError('NetworkError', `CNI plugin "${type}" of network "${list.name}" failed on ${command}: ${msg}`);
}

/** Runs one plugin once. Resolves with its parsed stdout (empty object for an empty DEL/CHECK answer). */
export function execPlugin(
  list: CniConfList,
  plugin: CniPluginConf,
  command: 'ADD' | 'DEL' | 'CHECK',
  rt: CniRuntime,
  prevResult: CniResult | undefined,
  signal?: AbortSignal,
): Promise<CniResult> {
  const bin = findPlugin(plugin.type, rt.binDirs);
  if (!bin)
    return Promise.reject(
      cniError(list, plugin.type, command, `binary not found in ${rt.binDirs.join(', ') || '(no CNI path)'}`),
    );
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  delete conf.capabilities;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {}))
    if (on && rt.capabilityArgs?.[cap] !== undefined) runtimeConfig[cap] = rt.capabilityArgs[cap];
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  if (prevResult) conf.prevResult = prevResult;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      [],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
          CNI_COMMAND: command,
          CNI_CONTAINERID: rt.containerID,
          CNI_NETNS: rt.netnsPath,
          CNI_IFNAME: rt.ifName,
          CNI_PATH: rt.binDirs.join(':'),
        },
        timeout: PLUGIN_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        maxBuffer: 1024 * 1024,
        encoding: 'utf8',
        ...(signal ? { signal } : {}),
      },
      (err, stdout, stderr) => {
        rt.onPluginRun?.(plugin.type, command, performance.now() - started);
        let parsed: Record<string, unknown> | undefined;
        try {
          parsed = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : {};
        } catch {
          parsed = undefined;
        }
        if (err) {
          const why =
            parsed && typeof parsed.msg === 'string'
              ? `${parsed.msg}${typeof parsed.details === 'string' && parsed.details ? `: ${parsed.details}` : ''}`
              : (stderr.trim() || stdout.trim() || err.message).slice(0, 500);
          return reject(cniError(list, plugin.type, command, why));
        }
        if (parsed === undefined) return reject(cniError(list, plugin.type, command, 'result is not JSON'));
        resolve(parsed as CniResult);
      },
    );
    // A plugin that exits before reading its config makes the write EPIPE: reported by the exit callback above,
    // never an unhandled 'error' that ends the agent.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(JSON.stringify(conf));
  });
}

/** ADD over the whole chain; on a failure the plugins already added are deleted again before the error is thrown. */
export async function addNetworkList(list: CniConfList, rt: CniRuntime, signal?: AbortSignal): Promise<CniResult> {
  let prev: CniResult | undefined;
  const done: CniPluginConf[] = [];
  try {
    for (const p of list.plugins) {
      prev = await execPlugin(list, p, 'ADD', rt, prev, signal);
      done.push(p);
    }
  } catch (e) {
    // The plugin that failed (or was cut off by a timeout) may have left state too: DEL it with the rest, as the
    // CNI spec asks of a runtime; plugins tolerate DEL of what they never added.
    await delNetworkList({ ...list, plugins: list.plugins.slice(0, done.length + 1) }, rt, prev).catch(() => {});
    throw e;
  }
  return prev ?? {};
}

/** CHECK over the chain (CNI 0.4.0+): throws when the network of the container is not what ADD built. */
export async function checkNetworkList(
  list: CniConfList,
  rt: CniRuntime,
  result: CniResult,
  signal?: AbortSignal,
): Promise<void> {
  for (const p of list.plugins) await execPlugin(list, p, 'CHECK', rt, result, signal);
}

/** DEL over the chain in reverse order. Every plugin runs; the first error is thrown at the end. */
export async function delNetworkList(list: CniConfList, rt: CniRuntime, result: CniResult | undefined): Promise<void> {
  let first: unknown;
  for (const p of [...list.plugins].reverse()) {
    try {
      await execPlugin(list, p, 'DEL', rt, result);
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}
