import { expect, it } from 'vitest';
import { describeConformance } from '../testing/describe-conformance.js';
import { isDroverError } from '../errors/index.js';
import { canonicalizeJob, parseJobHCL, type ParseHCLOptions } from './index.js';
import { runJobspecConformance, type ConformanceParseRequest } from './testing/index.js';

/** The same contract as `PUT /v1/jobs/parse`, called in-process. */
async function parseDirect(req: ConformanceParseRequest): Promise<{ status: number; body: unknown }> {
  return parseWith(req, { varFileContent: req.Variables });
}

/** The CLI's forms of the same variables: `-var` flags, or else NOMAD_VAR_ environment variables. */
async function parseCliForms(req: ConformanceParseRequest): Promise<{ status: number; body: unknown }> {
  if (req.ArgVars) return parseWith(req, { variables: req.ArgVars });
  if (req.Envs) return parseWith(req, { env: req.Envs });
  return parseWith(req, { varFileContent: req.Variables });
}

async function parseWith(
  req: ConformanceParseRequest,
  vars: Partial<ParseHCLOptions>,
): Promise<{ status: number; body: unknown }> {
  try {
    const { job } = parseJobHCL(req.JobHCL, { filename: 'input.hcl', allowFS: false, ...vars });
    return { status: 200, body: req.Canonicalize ? canonicalizeJob(job) : job };
  } catch (e) {
    if (isDroverError(e)) return { status: e.status, body: { message: e.message } };
    throw e;
  }
}

describeConformance('jobspec conformance', () => {
  it("decodes Nomad's own test fixtures as Nomad does", async () => {
    const report = await runJobspecConformance(parseDirect);
    // eslint-disable-next-line no-console -- the CI log line the acceptance criteria name
    console.log(report.summary);
    for (const r of report.results.filter((x) => !x.ok)) {
      // eslint-disable-next-line no-console
      console.log(`  ${r.group}/${r.name} (${r.match}): ${r.reasons.slice(0, 6).join('; ')}`);
    }
    expect(report.core.passed).toBe(28);
    expect(report.extra.passed).toBeGreaterThanOrEqual(84);
  });

  it('gives the same results when variables come as -var flags or NOMAD_VAR_ environment variables', async () => {
    const viaApi = await runJobspecConformance(parseDirect);
    const viaCli = await runJobspecConformance(parseCliForms);
    expect(viaCli.results.map((r) => [r.name, r.ok])).toEqual(viaApi.results.map((r) => [r.name, r.ok]));
  });
});
