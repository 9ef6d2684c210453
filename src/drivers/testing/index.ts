export {
  runDriverConformance,
  conformanceTask,
  CASE_CONTRACT,
  CONFORMANCE_ENV_VALUE,
  type ConformanceCase,
  type ConformanceOptions,
} from './conformance.js';
