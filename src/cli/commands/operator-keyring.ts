/**
 * `drover operator root keyring list|rotate|remove`: Nomad's commands for the keys that seal variables at rest.
 * `rotate -full` re-encrypts every variable with the new key in the background; `remove` is refused for the
 * active key and for a key that still encrypts a variable.
 */
import { command } from '../command.js';
import { formatTime, nsToMs } from '../format.js';
import type { RootKeyMeta } from '../../api/index.js';

const rows = (keys: RootKeyMeta[]) => [
  ['Key', 'State', 'Create Time'],
  ...keys.map((k) => [k.KeyID, k.State, formatTime(nsToMs(k.CreateTime))]),
];

export const keyringList = command('operator root keyring list', {
  summary: 'List the root keys that encrypt variables',
  async run(ctx) {
    const keys = await ctx.client().keyring.list({ signal: ctx.signal });
    if (ctx.out.json) ctx.out.printJSON(keys);
    else ctx.out.table(rows(keys));
    return 0;
  },
});

export const keyringRotate = command('operator root keyring rotate', {
  summary: 'Make a new root key active',
  options: [{ flags: '--full', description: 're-encrypt every variable with the new key (in the background)' }],
  async run(ctx, _args, opts) {
    const key = await ctx.client().keyring.rotate(opts.full === true, { signal: ctx.signal });
    if (ctx.out.json) ctx.out.printJSON(key);
    else ctx.out.table(rows([key]));
    return 0;
  },
});

export const keyringRemove = command('operator root keyring remove <key-id>', {
  summary: 'Remove an inactive root key that no variable uses',
  async run(ctx, [keyID]) {
    await ctx.client().keyring.remove(keyID!, { signal: ctx.signal });
    ctx.out.line(`Removed encryption key ${keyID}`);
    return 0;
  },
});
