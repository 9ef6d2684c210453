/**
 * What a task may ask of the host, decided by the operator in the driver's plugin config. The defaults are the
 * safe ones (as Nomad's `user.denylist`, `allow_caps` and `allow_privileged`): a job author cannot run a task as
 * root, add capabilities beyond the allowed set, or share the host's PID or IPC namespace, unless the plugin
 * config of that driver says so:
 *
 *   plugin "exec" { config {
 *     "user.denylist"    = ["root"]          # users tasks may not run as; [] allows any (uid 0 always counts as root)
 *     allow_caps         = ["chown", ...]    # cap_add must stay within these (default: the default set)
 *     allow_pid_mode_host = false            # pid_mode = "host" refused unless true
 *     allow_ipc_mode_host = false            # ipc_mode = "host" refused unless true
 *   } }
 *
 * The same keys apply to docker (which also keeps allow_privileged). A refusal is a driver error naming the task
 * key and the plugin option that would allow it; the task gets a Driver Failure event with that text.
 */

export interface TaskPolicy {
  /** Users tasks may not run as (names, or numeric uids). */
  deniedUsers: string[];
  /** Capabilities cap_add may name (upper case, with or without CAP_); undefined: no limit set here. */
  allowCaps?: string[];
  allowHostPid: boolean;
  allowHostIpc: boolean;
}

export const DEFAULT_DENIED_USERS = ['root'];

function list(v: unknown): string[] | undefined {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string')
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  return undefined;
}

/** The policy in a plugin's config block (HCL or JSON keys), with the safe defaults. */
export function taskPolicyFrom(options: Record<string, unknown>, defaultCaps?: string[]): TaskPolicy {
  const user = options['user'] as Record<string, unknown> | Record<string, unknown>[] | undefined;
  const userBlock = Array.isArray(user) ? user[0] : user;
  return {
    deniedUsers: list(options['user.denylist']) ?? list(userBlock?.['denylist']) ?? DEFAULT_DENIED_USERS,
    allowCaps: list(options['allow_caps']) ?? defaultCaps,
    allowHostPid: options['allow_pid_mode_host'] === true,
    allowHostIpc: options['allow_ipc_mode_host'] === true,
  };
}

const capKey = (c: string) => c.toUpperCase().replace(/^CAP_/, '');

/**
 * Problems with a task's user and config under `policy`. `uid`: the user's resolved uid when the driver knows
 * it (exec), so "0" or another name for uid 0 is root too.
 */
export function taskPolicyProblems(
  policy: TaskPolicy,
  user: string | undefined,
  config: Record<string, unknown>,
  uid?: number,
): string[] {
  const problems: string[] = [];
  const u = (user ?? '').split(':')[0] ?? '';
  const denied = new Set(policy.deniedUsers);
  const isRoot = u === 'root' || u === '0' || uid === 0;
  if (u !== '' && (denied.has(u) || (isRoot && denied.has('root')))) {
    problems.push(
      `user "${user}" is denied on this client (plugin option "user.denylist"); run the task as another user`,
    );
  } else if (u === '' && uid === 0 && denied.has('root')) {
    problems.push('the default user is root, which this client denies (plugin option "user.denylist")');
  }
  if (policy.allowCaps && Array.isArray(config['cap_add'])) {
    const allowed = new Set(policy.allowCaps.map(capKey));
    for (const c of config['cap_add'] as unknown[]) {
      if (!allowed.has('ALL') && !allowed.has(capKey(String(c))))
        problems.push(`cap_add "${String(c)}" is not in this client's allowed capabilities (plugin option allow_caps)`);
    }
  }
  if (config['pid_mode'] === 'host' && !policy.allowHostPid)
    problems.push('pid_mode "host" is not allowed on this client (plugin option allow_pid_mode_host)');
  if (config['ipc_mode'] === 'host' && !policy.allowHostIpc)
    problems.push('ipc_mode "host" is not allowed on this client (plugin option allow_ipc_mode_host)');
  return problems;
}
