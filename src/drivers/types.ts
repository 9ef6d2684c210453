/**
 * The task driver contract. Every driver (mock, raw_exec, exec, docker) implements `TaskDriver`, and
 * one conformance suite (`drivers/testing/`) runs against all of them. Drivers see only this file.
 *
 * Lifecycle of one task in a driver:
 *
 *   startTask ──► running ──(exit)──► waitTask resolves ──► destroyTask
 *       │             ├──signalTask
 *       │             └──stopTask(timeout, signal) ──► signal, then SIGKILL after timeout
 *       └── after an agent restart: recoverTask(handle) re-attaches to the same process/container
 */

export type DriverHealth = 'healthy' | 'unhealthy' | 'undetected';

/**
 * What a driver can do. Optional on `TaskDriver`; absent means `{ sendSignals: true, exec: true, fsIsolation: 'none' }`.
 * `fsIsolation` decides which paths the client puts in NOMAD_ALLOC_DIR / NOMAD_TASK_DIR / NOMAD_SECRETS_DIR:
 * 'none' → host paths (raw_exec, mock); 'chroot' | 'image' → the in-task paths `/alloc`, `/local`, `/secrets`
 * (exec, docker), as Nomad does. `TaskConfig.dirs` always holds host paths.
 */
export interface DriverCapabilities {
  sendSignals: boolean;
  exec: boolean;
  fsIsolation: 'none' | 'chroot' | 'image';
}

/**
 * Errors from `startTask`: throw a DroverError with code 'DriverError'. Set `details.recoverable = true` when
 * retrying may succeed (the restart policy then applies, as Nomad's recoverable errors); any other error fails the
 * task without restarts ("Error was unrecoverable"), as in Nomad.
 */
export const RECOVERABLE_DETAIL = 'recoverable';

export interface DriverFingerprint {
  health: DriverHealth;
  healthDescription: string;
  /** Node attributes, e.g. `driver.docker` = "1", `driver.docker.version` = "26.1.5". */
  attributes: Record<string, string>;
}

export interface TaskDirs {
  /** The allocation's shared dir (`<alloc>/alloc`). */
  sharedAllocDir: string;
  /** `<alloc>/<task>` */
  dir: string;
  /** `<alloc>/<task>/local` */
  localDir: string;
  /** `<alloc>/<task>/secrets` */
  secretsDir: string;
  /** `<alloc>/alloc/logs` */
  logDir: string;
}

export interface MountConfig {
  hostPath: string;
  taskPath: string;
  readOnly: boolean;
}

export interface PortMapping {
  label: string;
  /** Host port. */
  value: number;
  /** Port inside the task (docker `to`); 0 means same as value. */
  to: number;
  hostIP: string;
}

export interface TaskConfig {
  /** Unique per task instance: `<allocID>/<taskName>/<random>`. */
  id: string;
  name: string;
  allocID: string;
  jobName: string;
  jobID: string;
  taskGroupName: string;
  namespace: string;
  /** The driver's `config` block, with runtime variables already interpolated by the client. */
  config: Record<string, unknown>;
  env: Record<string, string>;
  user: string;
  dirs: TaskDirs;
  /**
   * Files the driver appends the task's stdout and stderr to. The path is fixed for the task's whole life (also
   * after recovery); open it with O_APPEND (flag 'a'), never truncate or rename it: the client rotates by
   * copy-truncate, which is only safe for append-mode writers. The file may be reopened after `recoverTask`.
   */
  stdoutPath: string;
  stderrPath: string;
  resources: {
    cpuShares: number;
    memoryMB: number;
    /** 0: no oversubscription. */
    memoryMaxMB: number;
    cores: number;
  };
  ports: PortMapping[];
  /** Network mode of the group (host, bridge, none, cni/NAME). */
  networkMode: string;
  /**
   * The allocation's network namespace (`/var/run/netns/drover-<alloc>`) when the group is not in host mode: the
   * task must run inside it (raw_exec through nsenter, exec through runc's network namespace path).
   */
  netnsPath?: string;
  /**
   * The allocation's resolv.conf (bridge mode: the agent's DNS on the bridge gateway, or the group's `dns {}`
   * block): drivers that give the task its own /etc mount it at /etc/resolv.conf (exec, docker).
   */
  resolvConfPath?: string;
  mounts: MountConfig[];
}

/**
 * A process that holds an allocation's network namespace for a driver whose tasks can only join a namespace held
 * by one of its own (Nomad's DriverNetworkManager; docker: the pause container). The client runs the CNI chain
 * against the namespace of `pid`.
 */
export interface NetworkHolder {
  pid: number;
  /** Driver-specific, JSON-serialisable (the pause container's id). */
  state: Record<string, unknown>;
}

export interface ExitResult {
  exitCode: number;
  /** Signal number that ended the task, 0 if none. */
  signal: number;
  oomKilled: boolean;
  /** Set when the driver could not tell how the task ended. */
  err?: string;
}

/** What the client persists so that `recoverTask` can re-attach after an agent restart. */
export interface TaskHandle {
  driver: string;
  version: number;
  config: TaskConfig;
  state: 'running' | 'exited' | 'unknown';
  /** Driver-specific, JSON-serialisable (pid, container id, ...). */
  driverState: Record<string, unknown>;
  startedAt: number;
}

export interface TaskResourceUsage {
  /** Unix nanoseconds. */
  timestamp: number;
  cpu: {
    percent: number;
    systemMode: number;
    userMode: number;
    totalTicks: number;
    throttledPeriods: number;
    throttledTime: number;
    measured: string[];
  };
  memory: {
    rss: number;
    cache: number;
    swap: number;
    usage: number;
    maxUsage: number;
    kernelUsage: number;
    measured: string[];
  };
  pids?: Record<string, TaskResourceUsage>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** What `execStreaming` runs: Nomad's `alloc exec` (an interactive command inside the running task). */
export interface ExecStreamRequest {
  cmd: string[];
  /** Run the command on a terminal (`-t`): stdout and stderr then arrive as one stream on `stdout`. */
  tty: boolean;
  /** Called with every chunk the command writes, in order. */
  onOutput(stream: 'stdout' | 'stderr', data: Buffer): void;
  /** Aborting kills the command (the caller went away). */
  signal: AbortSignal;
}

/** A started `execStreaming` command. */
export interface ExecSession {
  write(data: Buffer): void;
  /** End of stdin: the command reads EOF. */
  closeStdin(): void;
  /** The terminal's new size; a no-op when the driver cannot resize (see the driver's doc). */
  resize(height: number, width: number): void;
  /** Resolves once the command has exited and all its output went to `onOutput`. */
  readonly exited: Promise<{ exitCode: number }>;
}

export interface TaskDriver {
  readonly name: string;
  readonly capabilities?: DriverCapabilities;
  fingerprint(): Promise<DriverFingerprint>;
  /** Validates the task's driver `config`; returns the problems (empty when valid). */
  validateConfig(config: Record<string, unknown>): string[];
  startTask(cfg: TaskConfig, signal?: AbortSignal): Promise<{ handle: TaskHandle }>;
  /** Resolves when the task exits. Safe to call more than once. */
  waitTask(taskID: string, signal?: AbortSignal): Promise<ExitResult>;
  /** Sends `killSignal` (default SIGTERM), then SIGKILL after `timeoutMs`. Resolves when the task is gone. */
  stopTask(taskID: string, timeoutMs: number, killSignal?: string): Promise<void>;
  /** Frees everything the task held. `force` kills a still-running task first. */
  destroyTask(taskID: string, force: boolean): Promise<void>;
  signalTask(taskID: string, signal: string): Promise<void>;
  /** Runs a command inside the task's environment (script checks, change_mode script). */
  execTask(taskID: string, cmd: string[], timeoutMs: number): Promise<ExecResult>;
  /**
   * `alloc exec`: starts `req.cmd` in the task's context (user, env, cwd, namespaces) with streamed stdin and
   * output. Resolves once the command started; a command that cannot start throws a DroverError (BadRequest when
   * the command does not exist). Absent: the driver cannot exec interactively.
   */
  execStreaming?(taskID: string, req: ExecStreamRequest): Promise<ExecSession>;
  taskStats(taskID: string): Promise<TaskResourceUsage>;
  /**
   * Creates the process that holds the namespace of an allocation in bridge/none/cni mode whose group has tasks
   * of this driver (docker's pause container). Idempotent per allocation. Absent: the client creates the
   * namespace itself (`ip netns add`).
   */
  createNetwork?(allocID: string, signal?: AbortSignal): Promise<NetworkHolder>;
  /** Removes what `createNetwork` made; safe when it is already gone (also after an agent restart). */
  destroyNetwork?(allocID: string): Promise<void>;
  /**
   * Re-attaches to a task started by an earlier agent process (same process/container, never a new start).
   * When the task exited while the agent was down and the driver knows how, it resolves and `waitTask` then
   * returns that exit. Throws (DroverError 'TaskNotFound') when the task is gone without a trace.
   */
  recoverTask(handle: TaskHandle): Promise<void>;
  /** Releases driver-wide resources (event streams, sockets). */
  shutdown?(): Promise<void>;
}
