/**
 * Job admission: what every job goes through before the server registers it, plans it or says it is valid, as
 * Nomad's job endpoint hooks (`admissionControllers`). The server runs it, not the HTTP layer, so every caller
 * (the HTTP API, a request forwarded from another server or region, a future RPC, an in-process test) gets the
 * same checks.
 *
 *   decoded job ──▶ mutators, in order ──▶ validators, all of them ──▶ admitted job + warnings
 *                   (each may change the job      (each reports problems and warnings;
 *                    and add warnings)             any problem: one JobValidation error listing them all)
 *
 * Mutators run first so that validators see the job as it will be stored (defaults filled). A step that only
 * warns about what the user wrote (unsupported blocks) is a mutator placed before the defaults are filled.
 */
import { jobValidationError, type Problem } from '../errors/index.js';
import { canonicalizeJob, unsupportedFeatureWarnings, validateJob } from '../jobspec/index.js';
import type { Job } from '../structs/index.js';
import { connectSidecars, connectValidator } from './connect-admission.js';
import { parsePolicy } from './autoscaler-policy.js';

/** What the caller of an admission says about the job it hands over. */
export interface AdmissionOptions {
  /** The request's namespace (`?namespace=`): the job's own when it names none. */
  namespace?: string;
  /**
   * The caller hands the job object over (a request body decoded for this request alone): admission fills it in
   * place. Otherwise it works on a copy and leaves the caller's object as it was.
   */
  handOver?: boolean;
}

/** What a step sees besides the job. */
export interface AdmissionContext extends AdmissionOptions {
  /** The job blocks this build acts on; a job using others is admitted with a warning naming them. */
  supportedFeatures?: Set<string>;
}

export interface JobMutator {
  readonly name: string;
  /** Returns the job to pass on (the same object when changed in place) and any warnings. */
  mutate(job: Job, ctx: AdmissionContext): { job: Job; warnings?: string[] };
}

export interface JobValidator {
  readonly name: string;
  validate(job: Job, ctx: AdmissionContext): { problems?: Problem[]; warnings?: string[] };
}

export interface AdmissionSteps {
  mutators: readonly JobMutator[];
  validators: readonly JobValidator[];
}

/** Warns about blocks the user wrote that this build parses but does not act on. Changes nothing. */
export const unsupportedFeatures: JobMutator = {
  name: 'unsupported-features',
  mutate: (job, ctx) => ({
    job,
    warnings: ctx.supportedFeatures ? unsupportedFeatureWarnings(job, ctx.supportedFeatures) : [],
  }),
};

/**
 * The namespace a decoded job will be admitted into: its own, else the request's (`?namespace=`), else
 * "default". For a caller that must decide before admission runs (an ACL check on the HTTP request).
 */
export function admittedNamespace(job: Pick<Job, 'Namespace'>, requestNamespace?: string): string {
  return job.Namespace || requestNamespace || 'default';
}

/** Nomad's defaults (`api.Job.Canonicalize`), filled in place when the caller handed the job over. */
export const canonicalize: JobMutator = {
  name: 'canonicalize',
  mutate: (job, ctx) => {
    const ns = admittedNamespace(job, ctx.namespace);
    const out = canonicalizeJob(job, { inPlace: ctx.handOver === true });
    out.Namespace = ns;
    return { job: out };
  },
};

/** The full job validation of the jobspec module: every problem with its path. */
export const validate: JobValidator = {
  name: 'validate',
  validate: (job) => ({ problems: validateJob(job) }),
};

/** The groups' `scaling { policy { ... } }` blocks, read as the autoscaler will (autoscaler-policy.ts). */
export const scalingPolicyValidator: JobValidator = {
  name: 'scaling-policy',
  validate: (job) => ({
    problems: (job.TaskGroups ?? []).flatMap((g, i) => {
      if (g.Scaling?.Policy == null) return [];
      const { spec, problems } = parsePolicy(g.Scaling.Policy, `TaskGroups[${i}].Scaling.Policy`);
      // As in Nomad, a scaling block needs max: without it the autoscaler would have no upper bound.
      if (spec.checks.length > 0 && g.Scaling.Max == null)
        problems.push({ path: `TaskGroups[${i}].Scaling.Max`, message: 'a scaling policy with checks needs max' });
      return problems;
    }),
  }),
};

export const defaultAdmissionSteps: AdmissionSteps = {
  mutators: [unsupportedFeatures, connectSidecars, canonicalize],
  validators: [validate, connectValidator, scalingPolicyValidator],
};

/**
 * Runs the steps over `input`. Throws a JobValidation error listing every validator's problems; returns the
 * admitted job and the warnings of every step, in step order.
 */
export function admitJob(
  input: Job,
  opts: AdmissionOptions & { supportedFeatures?: Set<string> } = {},
  steps: AdmissionSteps = defaultAdmissionSteps,
): { job: Job; warnings: string[] } {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw jobValidationError([{ message: 'job is missing' }]);
  const ctx: AdmissionContext = { ...opts };
  const warnings: string[] = [];
  let job = input;
  for (const m of steps.mutators) {
    const out = m.mutate(job, ctx);
    job = out.job;
    if (out.warnings) warnings.push(...out.warnings);
  }
  const problems: Problem[] = [];
  for (const v of steps.validators) {
    const out = v.validate(job, ctx);
    if (out.problems) problems.push(...out.problems);
    if (out.warnings) warnings.push(...out.warnings);
  }
  if (problems.length > 0) throw jobValidationError(problems);
  return { job, warnings };
}
