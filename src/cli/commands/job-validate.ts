/** `drover job validate [-var ...] FILE`: local only; exit 1 with every problem. */
import { command } from '../command.js';
import { loadJobFile, VAR_OPTIONS } from './job-load.js';

export const jobValidate = command('job validate <file>', {
  summary: 'Check a job file for errors without an agent',
  options: [...VAR_OPTIONS],
  async run(ctx, [file], opts) {
    const loaded = await loadJobFile(ctx, file!, opts);
    if (!loaded) return 1;
    for (const w of loaded.warnings) ctx.out.error(`Warning: ${w}`);
    ctx.out.line('Job validation successful');
    return 0;
  },
});
