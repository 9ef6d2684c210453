/** The structs helpers the scheduler uses, plus the datacenter glob match, in one import. */
export {
  AllocClientStatusPending,
  AllocDesiredStatusEvict,
  AllocDesiredStatusRun,
  AllocDesiredStatusStop,
  newAllocation,
  newPlan,
  nodeSchedulable,
} from '../structs/index.js';
export { datacenterMatches as datacenterMatchesAny } from './feasible/constraint.js';
