/** The `artifact` block: fetching, checking and unpacking a task's artifacts (see artifact-hook.ts). */
export {
  ArtifactHook,
  artifactHookFactory,
  DEFAULT_ARTIFACT_CONFIG,
  type ArtifactClientConfig,
  type ArtifactHookOptions,
} from './artifact-hook.js';
export { parseArtifactSource, parseChecksum, type ArtifactSource } from './source.js';
