/**
 * What a command is: a small declarative spec (its words, arguments, flags) and a `run` function. Each command
 * lives in its own file under commands/ and is listed once in commands/index.ts; `run.ts` turns the specs into
 * a commander program. Commands reach the agent only through `ctx.client()` (the `api/` module).
 */
import type { DroverClient } from '../api/index.js';
import type { Output } from './output.js';
import type { JobFileLoader } from './jobfile.js';

export interface OptionSpec {
  /** Commander syntax with the long name nomad uses: `--check-index <index>`, `-f, --follow`. */
  flags: string;
  description: string;
  /** The flag may repeat (`-var a=1 -var b=2`); the value is a string[]. */
  repeatable?: boolean;
  /** The value is an integer. */
  int?: boolean;
  default?: string | boolean | number | string[];
}

/** `--verbose`, with what it adds to the command's output. */
export const verboseOption = (adds: string): OptionSpec => ({ flags: '--verbose', description: adds });

/** `--verbose` as most commands take it (full IDs instead of 8-character ones). */
export const VERBOSE_OPTION: OptionSpec = verboseOption('show full IDs');

/** `-f`/`--follow` of the commands that stream output (logs, files) until Ctrl-C. */
export const FOLLOW_OPTION: OptionSpec = {
  flags: '-f, --follow',
  description: 'keep printing what is appended until interrupted',
};

/** `--task` of the commands that act on one task of an allocation (or on all when it is not given). */
export const taskOption = (verb: string): OptionSpec => ({
  flags: '--task <task>',
  description: `the task to ${verb} (or give it as the second argument)`,
});

/** `--enable`/`--disable` of the node commands that switch something on or off (read with `enableFlag`). */
export const enableDisableOptions = (enable: string, disable: string): OptionSpec[] => [
  { flags: '--enable', description: enable },
  { flags: '--disable', description: disable },
];

/** `--detach` of the commands that create an evaluation and otherwise monitor it. */
export const DETACH_OPTION: OptionSpec = {
  flags: '--detach',
  description: 'print the evaluation ID and exit without monitoring',
};

export interface GlobalOptions {
  address: string;
  namespace?: string;
  region?: string;
  token?: string;
  json: boolean;
  /** Files for TLS to the agent (-ca-cert, -client-cert, -client-key, -tls-server-name). */
  tls?: { caCert?: string; clientCert?: string; clientKey?: string; serverName?: string };
}

export interface CommandContext {
  out: Output;
  globals: GlobalOptions;
  env: Record<string, string | undefined>;
  /** The API client for the resolved address, namespace, region and token. */
  client(): DroverClient;
  /** Reads and parses job files locally (the jobspec module), without the agent. */
  jobFiles: JobFileLoader;
  /** Aborted on Ctrl-C: long operations (monitors, log streams) stop with it. */
  signal: AbortSignal;
  /** The clock, for relative times ("1m ago"). */
  now(): number;
  readFile(path: string): Promise<string>;
  /** Starts an agent in-process (only `drover agent`). */
  startAgent?: StartAgentFn;
  /** Asks a question on the terminal and reads one line; absent when stdin is not interactive. */
  ask?: (question: string) => Promise<string | undefined>;
}

/** The agent's in-process entry point, loaded only by `drover agent`. */
export type StartAgentFn = (flags: AgentFlags) => Promise<{
  stop(): Promise<void>;
  address?: string;
  dnsAddress?: string;
  gatewayAddress?: string;
  /** The gateway's data plane (`haproxy` or `node`), printed beside its address. */
  gatewayPlane?: string;
  /** The gateway's HTTPS listener (`https://host:port`), when `gateway { tls_listen }` is set. */
  gatewayTlsAddress?: string;
}>;

/** `drover agent` flags, before the agent module merges them with config files and defaults. */
export interface AgentFlags {
  dev: boolean;
  dataDir?: string;
  configFiles: string[];
  bindAddr?: string;
  httpPort?: number;
  dnsPort?: number;
  /** Port of the gateway's listener (0 picks a free one); enables the gateway. */
  gatewayPort?: number;
  logLevel?: string;
  nodeName?: string;
  datacenter?: string;
  region?: string;
  servers?: string[];
  /** `-etcd URL,...`: the server keeps its state on these etcd endpoints. */
  etcd?: string[];
  server?: boolean;
  client?: boolean;
  /** Start even when the state's integrity checks find loss. */
  recover?: boolean;
}

export type Opts = Record<string, unknown>;

export interface CommandSpec {
  /** Words after `drover`: `['job', 'run']`. */
  path: string[];
  summary: string;
  /** Commander argument syntax: `<file>`, `[task]`. */
  args?: string[];
  options?: OptionSpec[];
  /** Also reachable as these word lists. */
  aliases?: string[][];
  /**
   * Old Nomad's top-level verbs (`drover run` = `drover job run`): they still work, with a deprecation warning
   * on stderr naming the command to use instead, as old Nomad printed for its deprecated verbs.
   */
  legacy?: string[][];
  /** The command does not talk to an agent's API, so it takes no -address/-namespace/... (e.g. `agent`). */
  noGlobals?: boolean;
  /** Words after the first argument are the command's own, flags included (`alloc exec ALLOC sh -c 'x'`). */
  passThrough?: boolean;
  /** Longer help text shown under the usage line. */
  help?: string;
  /** Returns the exit code. */
  run(ctx: CommandContext, args: string[], opts: Opts): Promise<number>;
}

/**
 * A command from its usage line, as the help prints it (`'job history <id>'`: the words after `drover`, then
 * the arguments in Commander's syntax), and the rest of its spec.
 */
export function command(usage: string, spec: Omit<CommandSpec, 'path' | 'args'>): CommandSpec {
  const words = usage.split(' ');
  const at = words.findIndex((w) => w.startsWith('<') || w.startsWith('['));
  if (at < 0) return { path: words, ...spec };
  return { path: words.slice(0, at), args: words.slice(at), ...spec };
}

/** A user error: printed as is (no stack), exit code as given. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const bool = (v: unknown): boolean => v === true;
export const strs = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);
export const int = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
