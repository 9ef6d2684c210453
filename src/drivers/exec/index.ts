export { ExecDriver, runcStatsToUsage, type ExecDriverOptions } from './driver.js';
export {
  DEFAULT_CHROOT_ENV,
  DEFAULT_CAPS,
  CHROOT_DIRS,
  ociSpec,
  memoryLimit,
  lookupUser,
  capabilities,
} from './spec.js';
export { cgroupVersion, oomKillCount, type CgroupVersion } from './cgroups.js';
