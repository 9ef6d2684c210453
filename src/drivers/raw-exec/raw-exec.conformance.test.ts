import { runDriverConformance } from '../testing/index.js';
import { RawExecDriver } from './index.js';

const sh = (script: string, ...args: string[]) => ({ command: '/bin/sh', args: ['-c', script, 'sh', ...args] });

runDriverConformance('raw_exec', () => new RawExecDriver({ enabled: true, pollIntervalMs: 50 }), {
  taskConfigFor: (c) => {
    switch (c) {
      case 'exitCode':
        return sh('exit 3');
      case 'stopTimeout':
        return sh("trap '' TERM; while :; do sleep 0.1; done");
      case 'envArgs':
        return sh('echo "DROVER_CONF_VAR=$DROVER_CONF_VAR"; echo "args=$*"', 'arg-one', 'arg-two');
      case 'workingDir':
        return sh(': > drover-cwd-marker');
      case 'logs':
        return sh('echo to-stdout; echo to-stderr >&2');
      case 'recover':
        return sh('echo started; exec sleep 30');
      default:
        return { command: 'sleep', args: ['30'] };
    }
  },
});
