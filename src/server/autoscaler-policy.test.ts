import { describe, expect, it } from 'vitest';
import { parseJobHCL } from '../jobspec/index.js';
import { scalingPolicyValidator } from './admission.js';
import type { AdmissionContext } from './admission.js';
import { parsePolicy } from './autoscaler-policy.js';

function policyOf(scaling: string): unknown {
  const { job } = parseJobHCL(`
job "web" {
  group "api" {
    ${scaling}
    task "srv" {
      driver = "raw_exec"
      config { command = "sleep" }
    }
  }
}`);
  return job.TaskGroups[0]!.Scaling!.Policy;
}

describe('parsePolicy', () => {
  it('reads a policy decoded from HCL', () => {
    const policy = policyOf(`
    scaling {
      min = 2
      max = 4
      policy {
        evaluation_interval = "2s"
        cooldown            = "5s"
        check "cpu" {
          source = "nomad-apm"
          query  = "avg_cpu"
          strategy "target-value" { target = 50 }
        }
        check "rps" {
          source   = "drover-gateway"
          query    = "request_rate_per_instance:/web"
          on_error = "fail"
          strategy "threshold" {
            lower_bound = 100
            delta       = 1
          }
        }
      }
    }`);
    const { spec, problems } = parsePolicy(policy, 'P');
    expect(problems).toEqual([]);
    expect(spec.evaluationIntervalMs).toBe(2000);
    expect(spec.cooldownMs).toBe(5000);
    expect(spec.checks).toEqual([
      {
        name: 'cpu',
        source: 'nomad-apm',
        query: 'avg_cpu',
        onError: 'ignore',
        strategy: { kind: 'target-value', target: 50, threshold: 0.01 },
      },
      {
        name: 'rps',
        source: 'drover-gateway',
        query: 'request_rate_per_instance:/web',
        onError: 'fail',
        strategy: {
          kind: 'threshold',
          lowerBound: 100,
          upperBound: undefined,
          delta: 1,
          percentage: undefined,
          value: undefined,
          withinBoundsTrigger: 5,
        },
      },
    ]);
  });

  it("uses Nomad's defaults for the interval and the cooldown", () => {
    const { spec } = parsePolicy({}, 'P');
    expect(spec).toEqual({ evaluationIntervalMs: 10_000, cooldownMs: 300_000, checks: [] });
  });

  it('accepts plain objects, as a JSON job may give them', () => {
    const { spec, problems } = parsePolicy(
      { check: { mem: { query: 'max_memory', strategy: { 'pass-through': {} } } } },
      'P',
    );
    expect(problems).toEqual([]);
    expect(spec.checks[0]).toMatchObject({ name: 'mem', source: 'nomad-apm', strategy: { kind: 'pass-through' } });
  });

  it('names every problem with its path', () => {
    const policy = policyOf(`
    scaling {
      max = 3
      policy {
        cooldown = "soon"
        check "a" {
          source = "datadog"
          query  = "x"
          strategy "target-value" {}
        }
        check "b" {
          query = "p99_cpu"
          strategy "step" {}
        }
        check "c" {
          source = "drover-gateway"
          query  = "rps"
          strategy "threshold" { lower_bound = 5 }
        }
      }
    }`);
    const messages = parsePolicy(policy, 'TaskGroups[0].Scaling.Policy').problems.map((p) => `${p.path}: ${p.message}`);
    expect(messages).toEqual([
      expect.stringMatching(/^TaskGroups\[0\]\.Scaling\.Policy\.cooldown: cooldown: /),
      'TaskGroups[0].Scaling.Policy.check["a"].source: unknown source "datadog": Drover has nomad-apm, drover-gateway, prometheus',
      'TaskGroups[0].Scaling.Policy.check["a"].strategy["target-value"].target: the target-value strategy needs a target',
      'TaskGroups[0].Scaling.Policy.check["b"].query: nomad-apm query "p99_cpu" is not <avg|min|max|sum>_<cpu|memory>, e.g. "avg_cpu"',
      'TaskGroups[0].Scaling.Policy.check["b"].strategy["step"]: unknown strategy "step": Drover has "target-value", "threshold" and "pass-through"',
      expect.stringMatching(
        /^TaskGroups\[0\]\.Scaling\.Policy\.check\["c"\]\.query: drover-gateway query "rps" is not/,
      ),
      'TaskGroups[0].Scaling.Policy.check["c"].strategy["threshold"]: the threshold strategy needs exactly one of delta, percentage or value',
    ]);
  });

  it('refuses a within_bounds_trigger that is not an integer from 1 to the history kept', () => {
    for (const t of [0, 2.5, 11]) {
      const policy = {
        check: {
          c: { query: 'avg_cpu', strategy: { threshold: { lower_bound: 1, delta: 1, within_bounds_trigger: t } } },
        },
      };
      expect(parsePolicy(policy, 'P').problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        `P.check["c"].strategy["threshold"].within_bounds_trigger: within_bounds_trigger must be an integer from 1 to 10, got ${t}`,
      ]);
    }
  });

  it('refuses at admission a policy with checks but no max, naming the field', () => {
    const job = (max?: number, check = true) =>
      ({
        ID: 'web',
        TaskGroups: [
          {
            Name: 'api',
            Scaling: {
              Min: 1,
              Max: max,
              Policy: check
                ? { check: { cpu: { query: 'avg_cpu', strategy: { 'target-value': { target: 50 } } } } }
                : {},
            },
          },
        ],
      }) as never;
    const ctx = {} as AdmissionContext;
    expect(scalingPolicyValidator.validate(job(), ctx).problems).toEqual([
      { path: 'TaskGroups[0].Scaling.Max', message: 'a scaling policy with checks needs max' },
    ]);
    expect(scalingPolicyValidator.validate(job(4), ctx).problems).toEqual([]);
    expect(scalingPolicyValidator.validate(job(undefined, false), ctx).problems).toEqual([]);
  });
});
