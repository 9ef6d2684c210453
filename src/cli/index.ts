/** The `drover` command line. `runCli` runs it in-process (tests); `main.ts` runs it as the executable. */
export { runCli, GLOBAL_OPTIONS, type CliIO, type CliDeps } from './run.js';
export { createOutput, memoryOutput, type Output, type Writable } from './output.js';
export {
  UsageError,
  type CommandSpec,
  type CommandContext,
  type GlobalOptions,
  type OptionSpec,
  type AgentFlags,
  type StartAgentFn,
} from './command.js';
export { createJobFileLoader, type JobFileLoader, type JobspecModule, type LoadedJob } from './jobfile.js';
export { monitorEval, type MonitorOptions } from './monitor.js';
