export { DockerDriver, containerName, type DockerDriverDeps } from './driver.js';
export {
  type DockerDriverOptions,
  CONTAINER_LABELS,
  CONTAINER_DIRS,
  validateDockerConfig,
  containerCreateBody,
  memoryLimits,
  normalizeImage,
} from './config.js';
export { DockerClient, DockerApiError, isDockerStatus } from './api.js';
export { dockerStatsToUsage } from './stats.js';
