/**
 * The exec driver's OCI bundle: the chroot (the task dir itself, as Nomad's chroot is) and the runc
 * `config.json` that puts the task in its own pid, mount, ipc and uts namespaces with cgroup limits.
 *
 * Host directories from `chroot_env` are bind-mounted read-only by runc inside the container's mount
 * namespace, so nothing is mounted on the host and nothing needs unmounting after a crash. A host directory
 * that is a symlink (/bin → usr/bin on merged-/usr systems) becomes the same symlink in the chroot.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { TaskConfig } from '../types.js';

/** Nomad's default chroot_env on Linux: host path → path in the chroot. */
export const DEFAULT_CHROOT_ENV: Record<string, string> = {
  '/bin': '/bin',
  '/etc': '/etc',
  '/lib': '/lib',
  '/lib32': '/lib32',
  '/lib64': '/lib64',
  '/run/resolvconf': '/run/resolvconf',
  '/sbin': '/sbin',
  '/usr': '/usr',
};

/** In-chroot paths of the task dirs, as Nomad's exec driver has them. */
export const CHROOT_DIRS = { alloc: '/alloc', local: '/local', secrets: '/secrets' } as const;

export interface UserIDs {
  uid: number;
  gid: number;
}

/** Looks a user up in the host's /etc/passwd (the chroot's /etc is the host's). Numeric "uid[:gid]" also works. */
export function lookupUser(user: string, passwd = '/etc/passwd'): UserIDs {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(user);
  if (numeric) return { uid: Number(numeric[1]), gid: Number(numeric[2] ?? numeric[1]) };
  for (const line of readFileSync(passwd, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`user "${user}" not found in ${passwd}`);
}

/**
 * Prepares the task dir as a chroot: mount points and symlinks for chroot_env, a world-writable /tmp, and
 * ownership of local/ and secrets/ for the task's user (Nomad makes these writable the same way).
 */
export function prepareChroot(cfg: TaskConfig, chrootEnv: Record<string, string>, user: UserIDs): void {
  const root = cfg.dirs.dir;
  for (const [host, inside] of Object.entries(chrootEnv)) {
    if (!existsSync(host)) continue;
    const target = join(root, inside);
    if (lstatSync(host).isSymbolicLink()) {
      if (!existsSync(target) && !isLink(target)) {
        mkdirSync(join(target, '..'), { recursive: true });
        symlinkSync(readlinkSync(host), target);
      }
    }
  }
  for (const d of ['tmp', 'alloc', 'local', 'secrets', 'proc', 'dev']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  // The task dir is the chroot's `/`; as in Nomad it is world-writable so a non-root task can use its cwd.
  chmodSync(root, 0o777);
  for (const d of [cfg.dirs.localDir, cfg.dirs.secretsDir]) {
    mkdirSync(d, { recursive: true });
    chownSync(d, user.uid, user.gid);
  }
  mkdirSync(cfg.dirs.sharedAllocDir, { recursive: true });
  chmodSync(cfg.dirs.sharedAllocDir, 0o777);
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

interface Mount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

function bind(source: string, destination: string, readOnly: boolean): Mount {
  return { destination, type: 'bind', source, options: ['rbind', 'nosuid', 'nodev', readOnly ? 'ro' : 'rw'] };
}

function mounts(cfg: TaskConfig, chrootEnv: Record<string, string>): Mount[] {
  const out: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  ];
  for (const [host, inside] of Object.entries(chrootEnv)) {
    // Symlinked host dirs became symlinks in the chroot (prepareChroot); their targets are mounted themselves.
    if (existsSync(host) && !lstatSync(host).isSymbolicLink()) out.push(bind(host, inside, true));
  }
  // The allocation's resolv.conf over the host's (bridge mode: the agent's DNS on the bridge gateway).
  if (cfg.resolvConfPath) out.push(bind(cfg.resolvConfPath, '/etc/resolv.conf', true));
  out.push(bind(cfg.dirs.sharedAllocDir, CHROOT_DIRS.alloc, false));
  if (cfg.dirs.localDir !== join(cfg.dirs.dir, 'local')) out.push(bind(cfg.dirs.localDir, CHROOT_DIRS.local, false));
  if (cfg.dirs.secretsDir !== join(cfg.dirs.dir, 'secrets'))
    out.push(bind(cfg.dirs.secretsDir, CHROOT_DIRS.secrets, false));
  for (const m of cfg.mounts) out.push(bind(m.hostPath, m.taskPath, m.readOnly));
  return out;
}

/** Docker's default capability set: what Nomad's exec driver allows by default. */
export const DEFAULT_CAPS = [
  'CAP_AUDIT_WRITE',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_MKNOD',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_RAW',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYS_CHROOT',
];

const capName = (c: unknown) => {
  const up = String(c).toUpperCase();
  return up.startsWith('CAP_') ? up : `CAP_${up}`;
};

/** The default set, plus cap_add, minus cap_drop ("all" drops every one). */
export function capabilities(config: Record<string, unknown>): string[] {
  const add = Array.isArray(config.cap_add) ? config.cap_add.map(capName) : [];
  const drop = Array.isArray(config.cap_drop) ? config.cap_drop.map(capName) : [];
  if (drop.includes('CAP_ALL')) return add;
  return [...new Set([...DEFAULT_CAPS, ...add])].filter((x) => !drop.includes(x));
}

export interface SpecOptions {
  chrootEnv: Record<string, string>;
  user: UserIDs;
  /** Init run as PID 1 in front of the task, from inside the chroot (tini). */
  initPath: string;
  cgroupsPath: string;
  args: string[];
}

/** Memory in bytes as Nomad sets it for exec: memory_max (oversubscription) is the hard limit when given. */
export function memoryLimit(cfg: TaskConfig): { limit: number; reservation?: number } {
  const mb = 1024 * 1024;
  if (cfg.resources.memoryMaxMB > cfg.resources.memoryMB)
    return { limit: cfg.resources.memoryMaxMB * mb, reservation: cfg.resources.memoryMB * mb };
  return { limit: cfg.resources.memoryMB * mb };
}

/** The runc config.json for one task. */
export function ociSpec(cfg: TaskConfig, o: SpecOptions): Record<string, unknown> {
  const env = {
    ...cfg.env,
    NOMAD_ALLOC_DIR: CHROOT_DIRS.alloc,
    NOMAD_TASK_DIR: CHROOT_DIRS.local,
    NOMAD_SECRETS_DIR: CHROOT_DIRS.secrets,
  };
  const mem = memoryLimit(cfg);
  const caps = capabilities(cfg.config);
  const c = cfg.config;
  // pid_mode / ipc_mode = "host" share the host's namespace, as Nomad's exec options allow.
  const namespaces = ['pid', 'mount', 'ipc', 'uts'].filter(
    (n) => !(n === 'pid' && c.pid_mode === 'host') && !(n === 'ipc' && c.ipc_mode === 'host'),
  );
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: o.user.uid, gid: o.user.gid },
      // tini forwards signals to the task and reaps orphans, so a task's whole tree ends with it.
      args: [o.initPath, '-g', '--', ...o.args],
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd: typeof c.work_dir === 'string' && c.work_dir ? c.work_dir : '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [] },
      noNewPrivileges: true,
    },
    root: { path: cfg.dirs.dir, readonly: false },
    hostname: hostname(),
    mounts: mounts(cfg, o.chrootEnv),
    linux: {
      cgroupsPath: o.cgroupsPath,
      // In bridge / none / cni mode the task joins the allocation's namespace; otherwise it shares the host's.
      namespaces: [
        ...namespaces.map((type) => ({ type })),
        ...(cfg.netnsPath ? [{ type: 'network', path: cfg.netnsPath }] : []),
      ],
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: mem.limit, swap: mem.limit, ...(mem.reservation ? { reservation: mem.reservation } : {}) },
        cpu: { shares: Math.max(2, cfg.resources.cpuShares) },
      },
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/sys/firmware',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
