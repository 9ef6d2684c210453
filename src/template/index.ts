/**
 * Drover's template module: a Go text/template engine with consul-template's functions, reading service,
 * KV, variable and environment data through the TemplateData interface, and a watch loop for re-rendering.
 */
export { Template, TemplateCache, defaultTemplateCache, type TemplateParseOptions } from './template.js';
export {
  TemplateRunner,
  nomadTemplateSettings,
  type TemplateRunnerConfig,
  type RenderResult,
  type NomadTemplateSettings,
} from './runner.js';
export { watchTemplate, systemClock, type Clock, type WaitForChange, type WatchOptions } from './watch.js';
export {
  dependencyKey,
  taskEnvLookup,
  type Dependency,
  type KVPair,
  type NodeInfo,
  type NomadVariable,
  type ServiceInstance,
  type ServiceProvider,
  type ServiceQuery,
  type ServiceSummary,
  type TemplateData,
  type TemplateDataLoader,
  type VariableMeta,
} from './data.js';
export { TemplateError, isTemplateError, type TemplateErrorPhase } from './errors.js';
export { arity, builtinFuncs, type FuncMap, type FuncSpec, type TemplateFunc } from './builtins.js';
export {
  parseServiceQuery,
  resolveConfined,
  HealthService,
  NomadService,
  NomadVarItem,
  NomadVarItems,
} from './funcs-data.js';
export { goJSON, Scratch } from './funcs-helpers.js';
export { sprintf, sprint, sprintln } from './fmt.js';
export { formatGoTime } from './golayout.js';
export { goStruct, goMap, markStructClass, StringMap } from './values.js';
export { parseEnvFile } from './env-file.js';
export { MemoryTemplateData, type MemoryTemplateDataInit } from './memory-data.js';
