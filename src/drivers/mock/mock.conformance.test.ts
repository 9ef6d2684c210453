import { runDriverConformance } from '../testing/index.js';
import { MockDriver } from './index.js';

runDriverConformance('mock_driver', () => new MockDriver(), {
  taskConfigFor: (c) => {
    switch (c) {
      case 'exitCode':
        return { run_for: '100ms', exit_code: 3 };
      case 'stopTimeout':
        return { kill_after: '30s' };
      case 'envArgs':
        // The mock runs no process: it prints the env it was given, and the "args" line is scripted.
        return { run_for: '10ms', echo_env: ['DROVER_CONF_VAR'], stdout_string: 'args=arg-one arg-two\n' };
      case 'workingDir':
        return { run_for: '10ms', touch_file: 'drover-cwd-marker' };
      case 'logs':
        return { run_for: '10ms', stdout_string: 'to-stdout\n', stderr_string: 'to-stderr\n' };
      case 'recover':
        return { stdout_string: 'started\n' };
      default:
        return {};
    }
  },
});
