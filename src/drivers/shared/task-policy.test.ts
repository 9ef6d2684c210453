import { describe, expect, it } from 'vitest';
import { taskPolicyFrom, taskPolicyProblems } from './task-policy.js';

describe('task policy', () => {
  const safe = taskPolicyFrom({}, ['CAP_CHOWN', 'CAP_KILL']);

  it('refuses root by name, by uid and by a name that resolves to uid 0, by default', () => {
    expect(taskPolicyProblems(safe, 'root', {})).toEqual([
      expect.stringMatching(/user "root" is denied .*user\.denylist/),
    ]);
    expect(taskPolicyProblems(safe, '0:0', {})).toHaveLength(1);
    expect(taskPolicyProblems(safe, 'toor', {}, 0)).toHaveLength(1);
    expect(taskPolicyProblems(safe, 'nobody', {}, 65534)).toEqual([]);
  });

  it('allows root when the plugin config empties the denylist', () => {
    expect(taskPolicyProblems(taskPolicyFrom({ 'user.denylist': [] }), 'root', {}, 0)).toEqual([]);
    expect(taskPolicyProblems(taskPolicyFrom({ user: [{ denylist: ['bob'] }] }), 'bob', {})).toHaveLength(1);
  });

  it('keeps cap_add within allow_caps and host namespaces behind their options', () => {
    expect(taskPolicyProblems(safe, 'nobody', { cap_add: ['kill', 'sys_admin'] })).toEqual([
      expect.stringMatching(/cap_add "sys_admin" .*allow_caps/),
    ]);
    expect(taskPolicyProblems(safe, 'nobody', { pid_mode: 'host', ipc_mode: 'host' })).toEqual([
      expect.stringMatching(/pid_mode "host" .*allow_pid_mode_host/),
      expect.stringMatching(/ipc_mode "host" .*allow_ipc_mode_host/),
    ]);
    const open = taskPolicyFrom({ allow_caps: ['all'], allow_pid_mode_host: true, allow_ipc_mode_host: true });
    expect(taskPolicyProblems(open, 'nobody', { cap_add: ['sys_admin'], pid_mode: 'host', ipc_mode: 'host' })).toEqual(
      [],
    );
  });
});
