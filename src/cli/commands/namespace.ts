/** `drover namespace apply|list|status|delete`: Nomad's namespace commands. */
import { command, str } from '../command.js';
import { formatKV } from '../format.js';

export const namespaceApply = command('namespace apply <name>', {
  summary: 'Create or update a namespace',
  options: [{ flags: '--description <text>', description: 'what the namespace is for' }],
  async run(ctx, [name], opts) {
    await ctx
      .client()
      .namespaces.apply({ Name: name!, Description: str(opts.description) ?? '' }, { signal: ctx.signal });
    ctx.out.line(`Successfully applied namespace "${name}"!`);
    return 0;
  },
});

export const namespaceList = command('namespace list', {
  summary: 'List namespaces',
  async run(ctx) {
    const list = (await ctx.client().namespaces.list({ signal: ctx.signal })).value ?? [];
    if (ctx.out.json) {
      ctx.out.printJSON(list);
      return 0;
    }
    ctx.out.table([['Name', 'Description'], ...list.map((n) => [n.Name, n.Description])]);
    return 0;
  },
});

export const namespaceStatus = command('namespace status <name>', {
  summary: 'Show a namespace',
  async run(ctx, [name]) {
    const n = (await ctx.client().namespaces.get(name!, { signal: ctx.signal })).value;
    ctx.out.result(n, () =>
      formatKV([
        ['Name', n.Name],
        ['Description', n.Description],
        ['Quota', n.Quota],
      ]),
    );
    return 0;
  },
});

export const namespaceDelete = command('namespace delete <name>', {
  summary: 'Delete a namespace (it must hold no jobs or variables)',
  async run(ctx, [name]) {
    await ctx.client().namespaces.delete(name!, { signal: ctx.signal });
    ctx.out.line(`Successfully deleted namespace "${name}"!`);
    return 0;
  },
});

export const NAMESPACE_COMMANDS = [namespaceApply, namespaceList, namespaceStatus, namespaceDelete];
