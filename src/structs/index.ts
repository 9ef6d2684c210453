/**
 * The shared data model, in Nomad's JSON shape. Imports nothing else of Drover's.
 */
export * from './resources.js';
export * from './job.js';
export * from './service.js';
export * from './catalog.js';
export * from './alloc.js';
export * from './node.js';
export * from './eval.js';
export * from './plan.js';
export * from './deployment.js';
export * from './summary.js';
export * from './ids.js';
export * from './usage.js';
export * from './disconnect.js';
export * from './results.js';
export * from './stats.js';
export * from './rpc.js';
export * from './kv.js';
export * from './acl.js';
export * from './names.js';
export * from './events.js';
export * from './multiregion.js';
export * from './mesh.js';
export * from './sim.js';
