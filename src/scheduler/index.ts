/**
 * The scheduler: Nomad-style placement as business logic only. It sees `structs`, a read-only
 * SchedulerState and a Planner (see types.ts); the server's workers call `newScheduler`, and the
 * plan applier uses `allocsFit` so it never over-commits a node.
 */

export * from './types.js';
export {
  allocsFit,
  usageFits,
  allocUsage,
  nodeCapacity,
  parsePortSpec,
  scoreFitBinPack,
  scoreFitSpread,
  BinPackMaxFitScore,
} from './feasible/resources.js';
export type { AllocUsage, FitResult, NodeCapacity } from './feasible/resources.js';
export { computeNodeClass, nodeClassOf } from './feasible/node-class.js';
export {
  checkConstraint,
  checkConstraintValues,
  constraintString,
  resolveTarget,
  datacenterMatches,
} from './feasible/constraint.js';
export { checkVersionMatch, checkSemverMatch } from './feasible/version.js';
export { tasksUpdated } from './reconciler/update.js';
export { seededRng } from './rng.js';
export { GenericScheduler } from './generic.js';
export { SystemScheduler } from './system.js';

export { newScheduler, SchedulerTypes } from './factory.js';
// The test harness and mock fixtures are not re-exported: tests import them from ./testing/index.js, so the
// build of the scheduler never pulls them in.
