/** The job-file flags shared by `job run`, `job plan` and `job validate`, and how a bad file is reported. */
import { DroverError, formatProblem } from '../../errors/index.js';
import { strs, UsageError, type CommandContext, type OptionSpec, type Opts } from '../command.js';
import { parseVarFlags, type LoadedJob } from '../jobfile.js';

export const VAR_OPTIONS: OptionSpec[] = [
  { flags: '--var <name=value>', description: 'set an HCL2 input variable (repeatable)', repeatable: true },
  { flags: '--var-file <file>', description: 'an HCL2 file of input variable values (repeatable)', repeatable: true },
];

/**
 * Parses and validates the job file locally. Returns undefined after printing every problem (with
 * file:line:column) when the file is bad; nothing has been sent to the agent then.
 */
export async function loadJobFile(ctx: CommandContext, file: string, opts: Opts): Promise<LoadedJob | undefined> {
  try {
    return await ctx.jobFiles.load(file, {
      vars: parseVarFlags(strs(opts.var)),
      varFiles: strs(opts.varFile),
      env: ctx.env,
    });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (
      e instanceof DroverError &&
      (e.code === 'JobParse' || e.code === 'JobValidation' || e.code === 'VariableMissing' || e.problems.length > 0)
    ) {
      ctx.out.error(
        e.code === 'JobValidation' ? `Error validating job file ${file}:` : `Error parsing job file ${file}:`,
      );
      if (e.problems.length > 0) for (const p of e.problems) ctx.out.error(`  ${formatProblem(p)}`);
      else ctx.out.error(`  ${e.message}`);
      return undefined;
    }
    throw e;
  }
}
