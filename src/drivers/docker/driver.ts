/**
 * The docker task driver: Docker Engine API over its unix socket (no docker CLI).
 *
 *   startTask ─► image local? ─no─► pull (events) ─► create `<task>-<allocID>` (labelled) ─► start
 *       │                                                        │ name taken: running → adopt, else remove+create
 *       ▼
 *   watch: logs follow ─► client's files        wait API ─► inspect (exit code, OOMKilled) ─► done
 *       ▲
 *   recoverTask(handle): inspect by id (or find by label) ─► re-attach logs from the cursor + wait; never starts
 *
 *   stopTask: kill(kill_signal) ─(timeout)─► kill(SIGKILL) ─► done      destroyTask: remove (force)
 *
 * Containers outlive the agent: shutdown only drops our streams.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { DroverError } from '../../errors/index.js';
import { type Logger, nullLogger } from '../../logging/index.js';
import type {
  DriverCapabilities,
  DriverFingerprint,
  ExecResult,
  ExecSession,
  ExecStreamRequest,
  ExitResult,
  NetworkHolder,
  TaskConfig,
  TaskDriver,
  TaskHandle,
  TaskResourceUsage,
} from '../types.js';
import {
  driverError,
  parseDurationMs,
  signalNumber,
  sleep,
  taskNotFound,
  taskPolicyFrom,
  taskPolicyProblems,
} from '../shared/index.js';
import { TaskTable, timedOutWaiting } from '../shared/task-table.js';
import { killTree } from '../shared/proc.js';
import { DockerClient, isDockerStatus, StreamDemuxer } from './api.js';
import {
  containerCreateBody,
  CONTAINER_LABELS,
  type DockerDriverOptions,
  registryAuthHeader,
  validateDockerConfig,
} from './config.js';
import { ensureImage, LocalImageCache } from './image.js';
import { copyLogs } from './logs.js';
import { DEFAULT_PAUSE_IMAGE, removePause, startPause } from './pause.js';
import { dockerStatsToUsage, type DockerStats } from './stats.js';

export interface DockerDriverDeps extends DockerDriverOptions {
  logger?: Logger;
  /** Task events the driver reports (image pulls, OOM): the client turns them into TaskEvents. */
  onEvent?: (taskID: string, type: string, message: string) => void;
  /** Unix nanoseconds; injectable for tests. */
  nowNs?: () => number;
}

interface Inspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number; OOMKilled: boolean; Error: string; Pid: number };
  Config: { Labels: Record<string, string> | null };
  NetworkSettings?: { IPAddress?: string };
}

interface Tracked {
  cfg: TaskConfig;
  containerID: string;
  done: Promise<ExitResult>;
  result?: ExitResult;
  /** Aborts our wait and log streams (agent shutdown or destroy), leaving the container alone. */
  detach: AbortController;
  /** Settles once the log copy stopped and saved its cursor. */
  logs: Promise<void>;
}

const HANDLE_VERSION = 1;

export class DockerDriver implements TaskDriver {
  readonly name = 'docker';
  readonly capabilities: DriverCapabilities = { sendSignals: true, exec: true, fsIsolation: 'image' };
  private readonly client: DockerClient;
  private readonly opts: DockerDriverOptions;
  private readonly log: Logger;
  private readonly tasks = new TaskTable<Tracked>();
  private readonly nowNs: () => number;
  private readonly images: LocalImageCache;

  constructor(private readonly deps: DockerDriverDeps = {}) {
    this.client = new DockerClient(deps.socketPath);
    this.images = new LocalImageCache(this.client);
    const cores = deps.cpuCount ?? availableParallelism();
    const mhz = cpus()[0]?.speed || 1000;
    this.opts = { ...deps, cpuCount: cores, totalCpuMHz: deps.totalCpuMHz ?? cores * mhz };
    this.log = (deps.logger ?? nullLogger).child({ driver: 'docker' });
    this.nowNs = deps.nowNs ?? (() => Date.now() * 1e6);
  }

  async fingerprint(): Promise<DriverFingerprint> {
    try {
      const ping = await this.client.json<string>({ path: '/_ping', timeoutMs: 5000 });
      const v = await this.client.json<{ Version: string; ApiVersion: string }>({ path: '/version', timeoutMs: 5000 });
      return {
        health: 'healthy',
        healthDescription: `Healthy (ping ${String(ping).trim()})`,
        attributes: {
          'driver.docker': '1',
          'driver.docker.version': v.Version,
          'driver.docker.api_version': v.ApiVersion,
        },
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // No socket at all: docker is not installed or not started here. Anything else: it is, but broken.
      const health = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'undetected' : 'unhealthy';
      return {
        health,
        healthDescription: `Docker is unreachable at ${this.client.socketPath}: ${String(err)}`,
        attributes: {},
      };
    }
  }

  validateConfig(config: Record<string, unknown>): string[] {
    return validateDockerConfig(config, this.opts);
  }

  async startTask(cfg: TaskConfig, signal?: AbortSignal): Promise<{ handle: TaskHandle }> {
    const problems = this.validateConfig(cfg.config);
    if (problems.length > 0) throw driverError(`invalid docker config: ${problems.join('; ')}`, false);
    // In a group network the container joins the allocation's pause container (createNetwork): its own
    // network_mode would leave the group's namespace.
    if (cfg.netnsPath && cfg.config.network_mode !== undefined)
      throw driverError(
        `task ${cfg.name}: network_mode cannot be set on a docker task of a group in network mode "${cfg.networkMode}" (the task joins the group's namespace)`,
        false,
      );
    // allow_caps is checked with the config above; the user and host namespaces here. An image's own default
    // user is the image author's choice and is not checked (Nomad's docker driver does not either).
    const refused = taskPolicyProblems(
      { ...(this.opts.policy ?? taskPolicyFrom({})), allowCaps: undefined },
      cfg.user,
      cfg.config,
    );
    if (refused.length > 0) throw driverError(`task ${cfg.name} refused: ${refused.join('; ')}`, false);
    const image = String(cfg.config.image);
    const timeoutMs = parseDurationMs(cfg.config.image_pull_timeout) || this.opts.pullTimeoutMs || 300_000;
    await ensureImage(this.client, image, {
      forcePull: cfg.config.force_pull === true,
      cache: this.images,
      authHeader: registryAuthHeader(cfg.config.auth),
      timeoutMs,
      signal,
      onEvent: (type, msg) => this.deps.onEvent?.(cfg.id, type, msg),
    });
    let body: Record<string, unknown>;
    try {
      body = containerCreateBody(cfg, image, this.opts);
    } catch (err) {
      throw driverError((err as Error).message, false, err);
    }
    const { id: containerID, adopted } = await this.createOrAdopt(cfg, body, signal);
    // A container we just created is not running: no need to ask dockerd (one request less per task while
    // dockerd is busiest); an adopted one may be.
    const info = adopted ? await this.inspect(containerID) : undefined;
    if (!info?.State.Running) {
      try {
        await this.client.json({ method: 'POST', path: `/containers/${containerID}/start`, signal });
      } catch (err) {
        if (!isDockerStatus(err, 304)) {
          await this.client
            .json({ method: 'DELETE', path: `/containers/${containerID}`, query: { force: 1 } })
            .catch(() => {});
          throw driverError(`failed to start container for task ${cfg.name}: ${(err as Error).message}`, true, err);
        }
      }
    }
    this.track(cfg, containerID);
    // No inspect after the start: the task is "Started" as soon as dockerd says so (one request less per task
    // while dockerd is starting the others). Service addresses come from the group's network status.
    const handle: TaskHandle = {
      driver: this.name,
      version: HANDLE_VERSION,
      config: cfg,
      state: 'running',
      driverState: { containerID, containerName: containerName(cfg), image },
      startedAt: Date.now(),
    };
    return { handle };
  }

  /**
   * Creates the container, or handles the name being taken: a running container of ours is adopted (never
   * a duplicate), a stopped one from an earlier attempt is removed and created again.
   */
  private async createOrAdopt(
    cfg: TaskConfig,
    body: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<{ id: string; adopted: boolean }> {
    const name = containerName(cfg);
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.client.json<{ Id: string }>({
          method: 'POST',
          path: '/containers/create',
          query: { name },
          body,
          signal,
        });
        return { id: r.Id, adopted: false };
      } catch (err) {
        // The image went away since it was looked up (the lookup is cached): the next attempt looks again.
        if (isDockerStatus(err, 404)) this.images.forget(String(body['Image'] ?? ''));
        if (!isDockerStatus(err, 409) || attempt > 0)
          throw driverError(`failed to create container for task ${cfg.name}: ${(err as Error).message}`, true, err);
        const old = await this.inspect(name);
        if (old.State.Running && old.Config.Labels?.[CONTAINER_LABELS.allocID] === cfg.allocID) {
          this.log.info('adopting the running container that already has this task name', {
            container: old.Id,
            task: cfg.name,
          });
          return { id: old.Id, adopted: true };
        }
        await this.client.json({ method: 'DELETE', path: `/containers/${old.Id}`, query: { force: 1 } });
      }
    }
  }

  private inspect(idOrName: string): Promise<Inspect> {
    return this.client.json<Inspect>({ path: `/containers/${encodeURIComponent(idOrName)}/json`, timeoutMs: 30_000 });
  }

  /** Starts following the container: logs into the client's files, and its exit. */
  private track(cfg: TaskConfig, containerID: string): Tracked {
    const current = this.tasks.get(cfg.id);
    // Already following this very container: a second copier would write its log twice.
    if (current && current.containerID === containerID && !current.result) return current;
    current?.detach.abort();
    const detach = new AbortController();
    const logs = copyLogs(
      {
        client: this.client,
        containerID,
        stdoutPath: cfg.stdoutPath,
        stderrPath: cfg.stderrPath,
        cursorPath: join(cfg.dirs.dir, '.docker-logs-cursor'),
        logger: this.log,
      },
      detach.signal,
    );
    const t: Tracked = { cfg, containerID, detach, logs, done: undefined as unknown as Promise<ExitResult> };
    t.done = this.watchExit(t, logs).then((r) => {
      t.result = r;
      if (r.oomKilled) this.deps.onEvent?.(cfg.id, 'OOM Killed', 'OOM Killed');
      return r;
    });
    // A detached watcher never settles; `done` rejects only when detached, which nobody waits on then.
    t.done.catch(() => {});
    this.tasks.set(cfg.id, t);
    return t;
  }

  private async watchExit(t: Tracked, logs: Promise<void>): Promise<ExitResult> {
    const signal = t.detach.signal;
    for (let backoff = 200; ; backoff = Math.min(backoff * 2, 5000)) {
      try {
        await this.client.json({
          method: 'POST',
          path: `/containers/${t.containerID}/wait`,
          query: { condition: 'not-running' },
          signal,
        });
        break;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (isDockerStatus(err, 404))
          return { exitCode: -1, signal: 0, oomKilled: false, err: 'container was removed' };
        this.log.warn('waiting on container failed; retrying', { container: t.containerID, err: String(err) });
        await sleep(backoff, signal);
      }
    }
    // The log stream ends with the container; give it a moment to drain the last lines.
    await Promise.race([logs, sleep(2000, signal).catch(() => {})]);
    const info = await this.inspect(t.containerID).catch(() => undefined);
    if (!info) return { exitCode: -1, signal: 0, oomKilled: false, err: 'container vanished before its exit was read' };
    const code = info.State.ExitCode;
    return {
      exitCode: code,
      signal: code > 128 && code <= 128 + 64 ? code - 128 : 0,
      oomKilled: info.State.OOMKilled,
      ...(info.State.Error ? { err: info.State.Error } : {}),
    };
  }

  waitTask(taskID: string, signal?: AbortSignal): Promise<ExitResult> {
    return this.tasks.wait(taskID, signal);
  }

  async stopTask(taskID: string, timeoutMs: number, killSignal = 'SIGTERM'): Promise<void> {
    const t = this.tasks.must(taskID);
    if (t.result) return;
    await this.kill(t, killSignal);
    const timedOut = await timedOutWaiting(t.done, timeoutMs);
    if (timedOut) await this.kill(t, 'SIGKILL');
    await t.done;
  }

  private async kill(t: Tracked, sig: string): Promise<void> {
    signalNumber(sig); // refuse unknown names before docker does, with our error code
    try {
      await this.client.json({ method: 'POST', path: `/containers/${t.containerID}/kill`, query: { signal: sig } });
    } catch (err) {
      // 409: not running any more; 404: gone. Either way the exit watcher settles.
      if (!isDockerStatus(err, 409) && !isDockerStatus(err, 404)) throw err;
    }
  }

  async destroyTask(taskID: string, force: boolean): Promise<void> {
    const t = this.tasks.get(taskID);
    if (!t) {
      // Not tracked (e.g. an alloc collected after an agent restart that never recovered it): remove what the
      // label still finds, so exited containers do not pile up.
      await this.removeByLabel(taskID, force);
      return;
    }
    if (!t.result && !force) {
      throw new DroverError('Conflict', `task "${taskID}" is still running; stop it first or destroy with force`);
    }
    try {
      await this.client.json({ method: 'DELETE', path: `/containers/${t.containerID}`, query: { force: 1, v: 1 } });
    } catch (err) {
      if (!isDockerStatus(err, 404)) throw err;
    }
    t.detach.abort();
    this.tasks.delete(taskID);
  }

  private async removeByLabel(taskID: string, force: boolean): Promise<void> {
    const filters = JSON.stringify({ label: [`${CONTAINER_LABELS.drover}=${taskID}`] });
    const list = await this.client
      .json<Array<{ Id: string; State: string }>>({ path: '/containers/json', query: { all: 1, filters } })
      .catch(() => []);
    for (const c of list) {
      if (c.State === 'running' && !force)
        throw new DroverError('Conflict', `task "${taskID}" is still running; stop it first or destroy with force`);
      await this.client
        .json({ method: 'DELETE', path: `/containers/${c.Id}`, query: { force: 1, v: 1 } })
        .catch((e) => {
          if (!isDockerStatus(e, 404)) throw e;
        });
    }
  }

  async signalTask(taskID: string, sig: string): Promise<void> {
    await this.kill(this.tasks.must(taskID), sig);
  }

  async execTask(taskID: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const t = this.tasks.must(taskID);
    const ac = new AbortController();
    const timer = setTimeout(
      () => ac.abort(new DroverError('Timeout', `exec timed out after ${timeoutMs}ms`)),
      timeoutMs,
    );
    try {
      const { Id } = await this.client.json<{ Id: string }>({
        method: 'POST',
        path: `/containers/${t.containerID}/exec`,
        body: { AttachStdout: true, AttachStderr: true, Cmd: cmd },
        signal: ac.signal,
      });
      const res = await this.client.stream({
        method: 'POST',
        path: `/exec/${Id}/start`,
        body: { Detach: false, Tty: false },
        signal: ac.signal,
      });
      const out: Record<1 | 2, Buffer[]> = { 1: [], 2: [] };
      const demux = new StreamDemuxer((s, p) => out[s].push(Buffer.from(p)));
      for await (const c of res.body) demux.push(c as Buffer);
      const info = await this.client.json<{ ExitCode: number | null }>({ path: `/exec/${Id}/json`, signal: ac.signal });
      return {
        stdout: Buffer.concat(out[1]).toString('utf8'),
        stderr: Buffer.concat(out[2]).toString('utf8'),
        exitCode: info.ExitCode ?? -1,
      };
    } catch (err) {
      if (ac.signal.aborted) throw ac.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * `alloc exec` through Docker's exec API: create, then start with the connection hijacked for stdin and output
   * (multiplexed frames without a TTY, raw bytes with one); `resize` sets the exec's TTY size. The exit code is
   * the exec's, read once the stream ends (a missing command: Docker's "executable file not found", 126/127).
   */
  async execStreaming(taskID: string, req: ExecStreamRequest): Promise<ExecSession> {
    const t = this.tasks.must(taskID);
    if (req.cmd.length === 0) throw new DroverError('BadRequest', 'exec: empty command');
    const { Id } = await this.client.json<{ Id: string }>({
      method: 'POST',
      path: `/containers/${t.containerID}/exec`,
      body: { AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: req.tty, Cmd: req.cmd },
      signal: req.signal,
    });
    const sock = await this.client.hijack({
      path: `/exec/${Id}/start`,
      body: { Detach: false, Tty: req.tty },
      signal: req.signal,
    });
    const demux = new StreamDemuxer((s, p) => req.onOutput(s === 2 ? 'stderr' : 'stdout', Buffer.from(p)));
    sock.on('data', (b: Buffer) => (req.tty ? req.onOutput('stdout', b) : demux.push(b)));
    sock.on('error', () => undefined);
    // Docker keeps an exec's process running when its stream is cut: a caller that went away must not leave it
    // behind, so it is killed through the host by the PID Docker reports for it.
    const onAbort = () => {
      sock.destroy();
      this.client
        .json<{ Running: boolean; Pid: number }>({ path: `/exec/${Id}/json`, timeoutMs: 10_000 })
        .then((info) => {
          // The PID is dockerd's view: it is ours only if that process sits in this container's cgroup here.
          if (info.Running && info.Pid > 0 && inContainerCgroup(info.Pid, t.containerID)) killTree(info.Pid);
        })
        .catch((e: unknown) => this.log.warn('exec: could not kill a dropped session', { exec: Id, err: String(e) }));
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    const exited = new Promise<{ exitCode: number }>((resolve) => {
      sock.once('close', () => {
        req.signal.removeEventListener('abort', onAbort);
        this.client
          .json<{ ExitCode: number | null }>({ path: `/exec/${Id}/json`, timeoutMs: 10_000 })
          .then((info) => resolve({ exitCode: info.ExitCode ?? -1 }))
          .catch(() => resolve({ exitCode: -1 }));
      });
    });
    return {
      write: (data) => {
        if (sock.writable) sock.write(data);
      },
      closeStdin: () => sock.end(),
      resize: (h, w) => {
        this.client
          .json({ method: 'POST', path: `/exec/${Id}/resize`, query: { h, w }, timeoutMs: 10_000 })
          .catch((e: unknown) => this.log.debug('exec resize failed', { exec: Id, err: String(e) }));
      },
      exited,
    };
  }

  async taskStats(taskID: string): Promise<TaskResourceUsage> {
    const t = this.tasks.must(taskID);
    const s = await this.client.json<DockerStats>({
      path: `/containers/${t.containerID}/stats`,
      query: { stream: 0 },
      timeoutMs: 30_000,
    });
    return dockerStatsToUsage(s, this.nowNs());
  }

  /** The allocation's pause container, whose namespace the client wires with CNI and the tasks join. */
  async createNetwork(allocID: string, signal?: AbortSignal): Promise<NetworkHolder> {
    const { id, pid } = await startPause(this.client, allocID, this.opts.infraImage ?? DEFAULT_PAUSE_IMAGE, signal);
    return { pid, state: { containerID: id } };
  }

  async destroyNetwork(allocID: string): Promise<void> {
    await removePause(this.client, allocID);
  }

  async recoverTask(handle: TaskHandle): Promise<void> {
    const cfg = handle.config;
    if (this.tasks.has(cfg.id)) return;
    const id = typeof handle.driverState.containerID === 'string' ? handle.driverState.containerID : undefined;
    let info = id
      ? await this.inspect(id).catch((e) => (isDockerStatus(e, 404) ? undefined : Promise.reject(e)))
      : undefined;
    info ??= await this.findByLabel(cfg);
    if (!info) throw taskNotFound(cfg.id);
    this.log.info('recovered container', { container: info.Id, task: cfg.name, running: info.State.Running });
    this.track(cfg, info.Id);
  }

  private async findByLabel(cfg: TaskConfig): Promise<Inspect | undefined> {
    const filters = JSON.stringify({ label: [`${CONTAINER_LABELS.drover}=${cfg.id}`] });
    const list = await this.client.json<Array<{ Id: string }>>({
      path: '/containers/json',
      query: { all: 1, filters },
    });
    return list[0] ? this.inspect(list[0].Id) : undefined;
  }

  /** Drops our streams (containers keep running) once each log copy has saved its cursor for the next agent. */
  async shutdown(): Promise<void> {
    const all = [...this.tasks.values()];
    this.tasks.clear();
    for (const t of all) t.detach.abort();
    await Promise.all(all.map((t) => t.logs));
  }
}

export function containerName(cfg: TaskConfig): string {
  return `${cfg.name}-${cfg.allocID}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
}

/** True when host process `pid` belongs to container `containerID` (its cgroup path names the container). */
function inContainerCgroup(pid: number, containerID: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(containerID);
  } catch {
    return false;
  }
}
