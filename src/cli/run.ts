/**
 * `runCli(argv, io)`: the whole CLI as a function, so tests run it in-process and `main.ts` only wires the
 * real process to it. Specs from commands/ become a commander program; nomad's single-dash long flags are
 * rewritten first (argv.ts); the command's exit code is returned, nomad's codes included (plan: 0/1/255).
 */
import { readFile } from 'node:fs/promises';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_ADDRESS, DroverClient, normalizeAddress, type FetchLike } from '../api/index.js';
import { DroverError, formatProblem } from '../errors/index.js';
import { longFlagNames, normalizeArgv } from './argv.js';
import {
  UsageError,
  type CommandContext,
  type CommandSpec,
  type GlobalOptions,
  type OptionSpec,
  type StartAgentFn,
} from './command.js';
import { findCommand, isGroup, loadCommands } from './commands/index.js';
import { createJobFileLoader, type JobFileLoader, type JobspecModule, loadJobspec } from './jobfile.js';
import { createOutput, type Writable } from './output.js';
import { httpFetch } from './http-fetch.js';
import { tlsFetch } from './tls-fetch.js';

export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  env: Record<string, string | undefined>;
}

/** Replaceable parts, for tests. */
export interface CliDeps {
  fetch?: FetchLike;
  jobspec?: () => Promise<JobspecModule>;
  jobFiles?: JobFileLoader;
  startAgent?: StartAgentFn;
  signal?: AbortSignal;
  now?: () => number;
  /** Questions on the terminal (`job restart -on-error ask`); absent when stdin is not interactive. */
  ask?: (question: string) => Promise<string | undefined>;
}

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { flags: '--address <addr>', description: 'address of the Drover agent (env DROVER_ADDR, NOMAD_ADDR)' },
  { flags: '--namespace <namespace>', description: 'target namespace (env DROVER_NAMESPACE, NOMAD_NAMESPACE)' },
  { flags: '--region <region>', description: 'target region (env DROVER_REGION, NOMAD_REGION)' },
  { flags: '--token <token>', description: 'ACL token (env DROVER_TOKEN, NOMAD_TOKEN)' },
  {
    flags: '--ca-cert <file>',
    description: 'CA certificate to verify the agent with (env DROVER_CACERT, NOMAD_CACERT)',
  },
  {
    flags: '--client-cert <file>',
    description: 'client certificate for mutual TLS (env DROVER_CLIENT_CERT, NOMAD_CLIENT_CERT)',
  },
  {
    flags: '--client-key <file>',
    description: 'key of the client certificate (env DROVER_CLIENT_KEY, NOMAD_CLIENT_KEY)',
  },
  {
    flags: '--tls-server-name <name>',
    description:
      'server name to verify the agent certificate against (env DROVER_TLS_SERVER_NAME, NOMAD_TLS_SERVER_NAME)',
  },
  { flags: '--json', description: 'print the API JSON instead of text' },
];

const VERSION_FLAGS = ['-v', '--version', '-version'];
const GLOBAL_LONG_FLAGS = longFlagNames([...GLOBAL_OPTIONS.map((o) => o.flags), '--help']);

function addOption(cmd: Command, o: OptionSpec): void {
  const opt = new Option(o.flags, o.description);
  if (o.repeatable) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
  else if (o.int) {
    opt.argParser((v: string) => {
      if (!/^-?\d+$/.test(v)) throw new UsageError(`Error: ${o.flags.split(' ')[0]} expects an integer, got "${v}"`);
      return Number(v);
    });
  }
  if (o.default !== undefined) opt.default(o.default);
  cmd.addOption(opt);
}

function resolveGlobals(opts: Record<string, unknown>, env: CliIO['env']): GlobalOptions {
  const pick = (flag: unknown, ...names: string[]) => {
    if (typeof flag === 'string' && flag !== '') return flag;
    for (const n of names) if (env[n]) return env[n];
    return undefined;
  };
  return {
    address: normalizeAddress(pick(opts.address, 'DROVER_ADDR', 'NOMAD_ADDR') ?? DEFAULT_ADDRESS),
    namespace: pick(opts.namespace, 'DROVER_NAMESPACE', 'NOMAD_NAMESPACE'),
    region: pick(opts.region, 'DROVER_REGION', 'NOMAD_REGION'),
    token: pick(opts.token, 'DROVER_TOKEN', 'NOMAD_TOKEN'),
    json: opts.json === true,
    tls: {
      caCert: pick(opts.caCert, 'DROVER_CACERT', 'NOMAD_CACERT'),
      clientCert: pick(opts.clientCert, 'DROVER_CLIENT_CERT', 'NOMAD_CLIENT_CERT'),
      clientKey: pick(opts.clientKey, 'DROVER_CLIENT_KEY', 'NOMAD_CLIENT_KEY'),
      serverName: pick(opts.tlsServerName, 'DROVER_TLS_SERVER_NAME', 'NOMAD_TLS_SERVER_NAME'),
    },
  };
}

/** Prints an error the way the command line shows it; returns the exit code. */
function reportError(e: unknown, io: CliIO): number {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  if (e instanceof UsageError) {
    if (e.message) err(e.message);
    return e.exitCode;
  }
  if (e instanceof DroverError) {
    err(e.message.startsWith('Error') ? e.message : `Error: ${e.message}`);
    for (const p of e.problems) {
      const line = formatProblem(p);
      if (!e.message.includes(line)) err(`  ${line}`);
    }
    return 1;
  }
  err(`Error: ${e instanceof Error ? e.message : String(e)}`);
  return 1;
}

interface Built {
  program: Command;
  longFlags: Set<string>;
  result: { code: number };
}

/** What every command's context shares, built once per run. */
interface Shared {
  io: CliIO;
  deps: CliDeps;
  jobFiles: JobFileLoader;
  signal: AbortSignal;
}

function makeContext(shared: Shared, opts: Record<string, unknown>): CommandContext {
  const { io, deps } = shared;
  const globals = resolveGlobals(opts, io.env);
  let client: DroverClient | undefined;
  return {
    out: createOutput(io.stdout, io.stderr, globals.json),
    globals,
    env: io.env,
    client: () =>
      (client ??= new DroverClient({
        address: globals.address,
        namespace: globals.namespace,
        region: globals.region,
        token: globals.token,
        fetch: deps.fetch ?? tlsFetch(globals.tls ?? {}) ?? httpFetch,
      })),
    jobFiles: shared.jobFiles,
    signal: shared.signal,
    now: deps.now ?? Date.now,
    readFile: (p) => readFile(p, 'utf8'),
    startAgent: deps.startAgent,
    ask: deps.ask,
  };
}

/** Finds or creates the commander command for a word path such as `job` (the group of `job run`). */
function groupFor(program: Command, groups: Map<string, Command>, words: string[]): Command {
  let parent = program;
  for (const [i, word] of words.entries()) {
    const key = words.slice(0, i + 1).join(' ');
    // A command may also be a group (`drover gateway` runs, `drover gateway routes` is its subcommand).
    let g = groups.get(key) ?? parent.commands.find((c) => c.name() === word);
    if (!g) {
      g = parent.command(word).description(`${key} commands`);
      groups.set(key, g);
    }
    parent = g;
  }
  return parent;
}

function addCommand(
  parent: Command,
  spec: CommandSpec,
  name: string,
  shared: Shared,
  result: { code: number },
  deprecation?: string,
): void {
  const cmd = parent.command(name).description(spec.summary);
  for (const a of spec.args ?? []) cmd.argument(a);
  for (const o of [...(spec.options ?? []), ...(spec.noGlobals ? [] : GLOBAL_OPTIONS)]) addOption(cmd, o);
  if (spec.help) cmd.addHelpText('after', `\n${spec.help}`);
  if (spec.passThrough) {
    for (let p: Command | null = parent; p; p = p.parent) p.enablePositionalOptions();
    cmd.passThroughOptions();
  }
  cmd.action(async (...a: unknown[]) => {
    if (deprecation) shared.io.stderr.write(deprecation);
    const command = a[a.length - 1] as Command;
    const args = a
      .slice(0, (spec.args ?? []).length)
      .flatMap((x) => (Array.isArray(x) ? (x as string[]) : x === undefined ? [] : [String(x)]));
    result.code = await spec.run(
      makeContext(shared, command.opts<Record<string, unknown>>()),
      args,
      command.opts<Record<string, unknown>>(),
    );
  });
}

function buildProgram(io: CliIO, deps: CliDeps, specs: readonly CommandSpec[]): Built {
  const result = { code: 0 };
  const program = new Command('drover')
    .description('Drover: run Nomad job files on a Nomad-compatible orchestrator')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
  const shared: Shared = {
    io,
    deps,
    jobFiles: deps.jobFiles ?? createJobFileLoader(deps.jobspec ?? loadJobspec),
    signal: deps.signal ?? new AbortController().signal,
  };
  const flagSpecs: string[] = [...GLOBAL_OPTIONS.map((o) => o.flags), '--help'];
  const groups = new Map<string, Command>();
  for (const spec of specs) {
    for (const path of [spec.path, ...(spec.aliases ?? [])]) {
      addCommand(groupFor(program, groups, path.slice(0, -1)), spec, path[path.length - 1]!, shared, result);
    }
    for (const path of spec.legacy ?? []) {
      const warn = `WARNING! The "drover ${path.join(' ')}" command is deprecated. Please use "drover ${spec.path.join(' ')}" instead.\n`;
      addCommand(groupFor(program, groups, path.slice(0, -1)), spec, path[path.length - 1]!, shared, result, warn);
    }
    for (const o of spec.options ?? []) flagSpecs.push(o.flags);
  }
  return { program, longFlags: longFlagNames(flagSpecs), result };
}

/** Runs the CLI on `argv` (the words after `drover`) and returns the exit code. */
export async function runCli(argv: string[], io: CliIO, deps: CliDeps = {}): Promise<number> {
  try {
    // Inside the try: a command module that fails to load is reported like any other error (exit 1).
    const { program, longFlags, result } = buildProgram(io, deps, await specsFor(argv));
    let args = leadingGlobalsLast(normalizeArgv(argv, longFlags));
    if (args.length === 1 && VERSION_FLAGS.includes(argv[0] ?? '')) args = ['version'];
    if (args.length === 0) args = ['--help'];
    await program.parseAsync(args, { from: 'user' });
    return result.code;
  } catch (e) {
    // Ctrl-C: the command was interrupted on purpose; nothing more to say.
    if (deps.signal?.aborted) return 130;
    if (e instanceof CommanderError) {
      // Commander already printed its message (usage errors) or the help text.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : e.exitCode || 1;
    }
    return reportError(e, io);
  }
}

/**
 * The specs to build the program from: only the command `argv` names when it names one that is not also a
 * group (start-up loads one command module, not all of them); every command for help listings, groups and
 * unknown words, so commander lists them and suggests the nearest. Global flags (`-region B`) may come first.
 */
async function specsFor(argv: string[]): Promise<CommandSpec[]> {
  const words = leadingGlobalsLast(normalizeArgv(argv, GLOBAL_LONG_FLAGS));
  const flag = words.findIndex((w) => w.startsWith('-'));
  const isVersion = argv.length === 1 && VERSION_FLAGS.includes(argv[0]!);
  const found = findCommand(isVersion ? ['version'] : flag === -1 ? words : words.slice(0, flag));
  if (!found || isGroup(found.words)) return loadCommands();
  return [await found.entry.load()];
}

/**
 * `drover -region B job status x`: global options given before the command go after it (before any `--`),
 * where the command's parser reads them, as `drover job status -region B x` does.
 */
function leadingGlobalsLast(args: string[]): string[] {
  const valued = new Set(GLOBAL_OPTIONS.map((o) => /^(--[\w-]+) </.exec(o.flags)?.[1]).filter(Boolean));
  const moved: string[] = [];
  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    const name = a.split('=')[0]!;
    if (!valued.has(name)) break;
    const take = a.includes('=') ? 1 : 2;
    moved.push(...args.slice(i, i + take));
    i += take;
  }
  if (moved.length === 0 || i >= args.length) return args;
  const rest = args.slice(i);
  const dd = rest.indexOf('--');
  return dd === -1 ? [...rest, ...moved] : [...rest.slice(0, dd), ...moved, ...rest.slice(dd)];
}
