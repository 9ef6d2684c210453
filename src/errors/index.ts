/**
 * One error class for everything Drover reports, with a stable string code from one registry.
 * Only `http/` maps codes to HTTP status; the CLI and UI branch on `code`, never on message text.
 */

/** Every error code, with the HTTP status it maps to. Add new codes here, nowhere else. */
export const ErrorCodes = {
  BadRequest: 400,
  JobParse: 400,
  JobValidation: 400,
  VariableMissing: 400,
  BodyTooLarge: 413,
  NotFound: 404,
  JobNotFound: 404,
  AllocNotFound: 404,
  EvalNotFound: 404,
  NodeNotFound: 404,
  DeploymentNotFound: 404,
  VariableNotFound: 404,
  ServiceNotFound: 404,
  Conflict: 409,
  /** A second `PUT /v1/operator/sim` while one runs on this server: one simulation at a time. */
  SimulationBusy: 429,
  /** Nomad answers a write on a finished deployment with 500 and `can't <verb> terminal deployment`; clients compare both. */
  DeploymentTerminal: 500,
  /**
   * `alloc signal` with a signal that does not exist: Nomad's driver answers 500 with `failed to parse signal:
   * invalid signal "X" - valid signals are [...]`, and clients compare it.
   */
  InvalidSignal: 500,
  CheckIndexMismatch: 409,
  CASConflict: 409,
  PermissionDenied: 403,
  ACLTokenNotFound: 403,
  ACLTokenExpired: 403,
  ACLPolicyInvalid: 400,
  ACLBootstrapDone: 400,
  ACLDisabled: 400,
  NamespaceNotFound: 404,
  NotLeader: 503,
  Unavailable: 503,
  /** The server stopped (lost its etcd lease, or is shutting down) while a blocking query waited on its state. */
  ServerStopped: 503,
  StorageFull: 507,
  DriverNotFound: 500,
  DriverError: 500,
  /** An allocation's network namespace or CNI chain could not be built or removed. */
  NetworkError: 500,
  TaskNotFound: 404,
  /** A task's artifact could not be fetched, checked or unpacked (Nomad's "Failed Artifact Download"). */
  ArtifactDownload: 500,
  Internal: 500,
  /** The stored state is damaged or shorter than what was acknowledged: the agent refuses to start. */
  StateCorrupt: 500,
  /**
   * The state database (or a snapshot) is in a newer format than this build reads, i.e. was written by a newer
   * Drover: downgrades are not supported, so the agent refuses to start (and a restore refuses the snapshot).
   */
  StateFormat: 500,
  Timeout: 504,
  Aborted: 499,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** One problem found while reading or validating input, with where it is. */
export interface Problem {
  /** Human text: what is wrong and what was expected. */
  message: string;
  /** Struct path, e.g. `TaskGroups[0].Tasks[1].Resources.CPU`. */
  path?: string;
  /** Block path in a job file, e.g. `job "web" > group "api" > task "srv"`. */
  block?: string;
  file?: string;
  line?: number;
  column?: number;
}

export function formatProblem(p: Problem): string {
  const where =
    p.file != null
      ? `${p.file}:${p.line ?? 0}:${p.column ?? 0}: `
      : p.line != null
        ? `${p.line}:${p.column ?? 0}: `
        : '';
  const ctx = p.block ? ` (in ${p.block})` : p.path ? ` (at ${p.path})` : '';
  return `${where}${p.message}${ctx}`;
}

export class DroverError extends Error {
  readonly code: ErrorCode;
  readonly problems: Problem[];
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { problems?: Problem[]; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'DroverError';
    this.code = code;
    this.problems = opts.problems ?? [];
    this.details = opts.details ?? {};
  }

  get status(): number {
    return ErrorCodes[this.code];
  }
}

export function isDroverError(e: unknown, code?: ErrorCode): e is DroverError {
  return e instanceof DroverError && (code === undefined || e.code === code);
}

// Factories, one per condition.
export const badRequest = (message: string, problems?: Problem[]) =>
  new DroverError('BadRequest', message, { problems });
export const bodyTooLarge = (limit: number) =>
  new DroverError('BodyTooLarge', `request body is larger than ${limit} bytes`);
export const jobNotFound = (ns: string, id: string) =>
  new DroverError('JobNotFound', `job "${id}" not found in namespace "${ns}"`, { details: { namespace: ns, id } });
/** Nomad's words for an unknown signal (the docker driver's, through consul-template's `signals.Parse`). */
export const invalidSignal = (sig: string, valid: readonly string[]) =>
  new DroverError(
    'InvalidSignal',
    `failed to parse signal: invalid signal ${JSON.stringify(sig)} - valid signals are [${valid.map((v) => JSON.stringify(v)).join(' ')}]`,
    { details: { signal: sig } },
  );
export const allocNotFound = (id: string) =>
  new DroverError('AllocNotFound', `allocation "${id}" not found`, { details: { id } });
export const evalNotFound = (id: string) =>
  new DroverError('EvalNotFound', `evaluation "${id}" not found`, { details: { id } });
export const nodeNotFound = (id: string) =>
  new DroverError('NodeNotFound', `node "${id}" not found`, { details: { id } });
export const scalingPolicyNotFound = (id: string) =>
  new DroverError('NotFound', `scaling policy "${id}" not found`, { details: { id } });
export const deploymentNotFound = (id: string) =>
  new DroverError('DeploymentNotFound', `deployment "${id}" not found`, { details: { id } });
export const simulationBusy = () =>
  new DroverError('SimulationBusy', 'a simulation is already running on this server: try again when it has finished');
export const notFound = (what: string) => new DroverError('NotFound', `${what} not found`);
export const jobParseError = (problems: Problem[]) =>
  new DroverError('JobParse', problems.map(formatProblem).join('\n'), { problems });
export const jobValidationError = (problems: Problem[]) =>
  new DroverError('JobValidation', problems.map(formatProblem).join('\n'), { problems });
export const checkIndexMismatch = (expected: number, actual: number) =>
  new DroverError('CheckIndexMismatch', `job modify index ${expected} does not match the current index ${actual}`, {
    details: { expected, actual },
  });
export const stateCorrupt = (message: string) => new DroverError('StateCorrupt', message);
/** `file` holds state format `found`, newer than `known`, the newest this build reads. */
export const stateFormatTooNew = (file: string, found: number, known: number) =>
  new DroverError(
    'StateFormat',
    `${file} is in state format ${found}, but this Drover reads formats up to ${known}: it was written by a newer ` +
      'Drover, and downgrades are not supported. Run that version again, or restore a snapshot this version took',
    { details: { file, found, known } },
  );
export const internalError = (message: string, cause?: unknown) => new DroverError('Internal', message, { cause });
/** Nomad's text for a request its token does not allow. */
export const permissionDenied = (why?: string) =>
  new DroverError('PermissionDenied', why ? `Permission denied: ${why}` : 'Permission denied');
/** A write names a namespace nobody created (`drover namespace apply` first). */
export const unknownNamespace = (name: string) =>
  new DroverError(
    'BadRequest',
    `namespace "${name}" does not exist: create it first (drover namespace apply ${name})`,
    { details: { namespace: name } },
  );
export const aborted = () => new DroverError('Aborted', 'operation aborted');
