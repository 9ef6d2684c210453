/** `drover var purge [-check-index N] PATH`: deletes a variable. */
import { command, int } from '../command.js';
import { formatVariable } from './var-common.js';

export const varPurge = command('var purge <path>', {
  summary: 'Delete a variable',
  options: [{ flags: '--check-index <index>', description: 'delete only if the modify index matches', int: true }],
  async run(ctx, [path], opts) {
    const res = await ctx.client().variables.delete(path!, { cas: int(opts.checkIndex), signal: ctx.signal });
    if (!res.ok) {
      ctx.out.error(`Check-and-Set conflict\n\n${formatVariable(res.conflict)}`);
      return 1;
    }
    ctx.out.line(`Successfully purged variable "${path}"!`);
    return 0;
  },
});
