/** `drover job init [-short] [file]`: writes an example job file to start from, as `nomad job init`. */
import { writeFile } from 'node:fs/promises';
import { command, bool, UsageError } from '../command.js';
import { EXAMPLE_JOB, EXAMPLE_JOB_SHORT } from './job-init-examples.js';

export const DEFAULT_EXAMPLE_FILE = 'example.nomad.hcl';

export const jobInit = command('job init [file]', {
  legacy: [['init']],
  summary: 'Create an example job file',
  options: [{ flags: '--short', description: 'write the example without its explanatory comments' }],
  noGlobals: true,
  async run(ctx, [file = DEFAULT_EXAMPLE_FILE], opts) {
    try {
      // 'wx': never overwrite a file the user already has, even one created a moment ago.
      await writeFile(file, bool(opts.short) ? EXAMPLE_JOB_SHORT : EXAMPLE_JOB, { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`Job '${file}' already exists`);
      throw new UsageError(`Failed to write '${file}': ${(e as Error).message}`);
    }
    ctx.out.line(`Example job file written to ${file}`);
    return 0;
  },
});
