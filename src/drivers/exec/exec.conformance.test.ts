import { runDriverConformance, type ConformanceCase } from '../testing/index.js';
import { execTestDriverFactory, execUnavailable } from './test-support.js';

const sh = (script: string) => ({ command: '/bin/sh', args: ['-c', script] });

const configs: Record<ConformanceCase, Record<string, unknown>> = {
  start: sh('sleep 60'),
  exitCode: sh('exit 3'),
  stopSignal: sh('sleep 60'),
  stopTimeout: sh("trap '' TERM; while true; do sleep 1; done"),
  envArgs: {
    command: '/bin/sh',
    args: ['-c', 'echo "DROVER_CONF_VAR=$DROVER_CONF_VAR"; echo "args=$0 $1"', 'arg-one', 'arg-two'],
  },
  workingDir: sh('touch drover-cwd-marker'),
  logs: sh('echo to-stdout; echo to-stderr >&2'),
  stats: sh('x=$(head -c 4000000 /dev/zero | tr "\\0" a); sleep 60'),
  recover: sh('echo started; sleep 60'),
  destroy: sh('sleep 60'),
};

runDriverConformance('exec', execTestDriverFactory(), {
  taskConfigFor: (c) => configs[c],
  unavailable: execUnavailable,
  caseTimeoutMs: 30_000,
});
