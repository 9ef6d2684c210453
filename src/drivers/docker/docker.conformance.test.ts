import { TEST_IMAGES, dockerUnavailable } from './test-support.js';
import { runDriverConformance, type ConformanceCase } from '../testing/index.js';
import { DockerDriver } from './index.js';

const sh = (script: string) => ({ image: TEST_IMAGES.busybox, command: '/bin/sh', args: ['-c', script] });
// A shell as PID 1 ignores SIGTERM unless it traps it; trapping keeps stops quick where the case allows.
const untilStopped = (prefix = '') => sh(`${prefix}trap 'exit 143' TERM; sleep 60 & wait`);

const configs: Record<ConformanceCase, Record<string, unknown>> = {
  start: untilStopped(),
  exitCode: sh('exit 3'),
  stopSignal: untilStopped(),
  stopTimeout: sh("trap '' TERM; while true; do sleep 1; done"),
  envArgs: {
    image: TEST_IMAGES.busybox,
    command: '/bin/sh',
    args: ['-c', 'echo "DROVER_CONF_VAR=$DROVER_CONF_VAR"; echo "args=$0 $1"', 'arg-one', 'arg-two'],
  },
  workingDir: { ...sh('touch drover-cwd-marker'), work_dir: '/local' },
  logs: sh('echo to-stdout; echo to-stderr >&2'),
  stats: untilStopped('head -c 4000000 /dev/zero > /dev/shm/fill; '),
  recover: untilStopped('echo started; '),
  destroy: untilStopped(),
};

runDriverConformance('docker', () => new DockerDriver(), {
  taskConfigFor: (c) => configs[c],
  unavailable: dockerUnavailable,
  caseTimeoutMs: 40_000,
  adjustTask: (t) => {
    // The host's PATH means nothing inside the image.
    t.env.PATH = '/usr/local/bin:/usr/bin:/bin';
  },
});
