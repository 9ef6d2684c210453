/**
 * Job files (Nomad HCL2 and Nomad API JSON) → the Job struct, Nomad's defaults, and validation.
 * Used by the HTTP API (`/v1/jobs/parse`, register) and by the CLI (`job run`, `job validate`).
 */
export { parseJobHCL, type ParseHCLOptions, type ParseHCLResult } from './parse-hcl.js';
export { parseJobJSON } from './json.js';
export { parseJobFile, parseJobSource, type ParseJobFileOptions } from './file.js';
export { canonicalizeJob } from './canonicalize.js';
export { validateJob } from './validate.js';
export { unsupportedFeatureWarnings, usedFeatures } from './features.js';
export { parseSizeMB } from './duration.js';
export { admissionLimits, checkJobLimits, checkNodeShape, checkVariableItems } from './limits.js';
