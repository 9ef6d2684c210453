/**
 * `drover acl ...`: Nomad's `nomad acl bootstrap`, `acl token create|list|info|self|delete`,
 * `acl policy apply|list|info|delete` and `acl role create|list|delete`, with Nomad's output.
 * Every command sends the token from `-token`, `DROVER_TOKEN` or `NOMAD_TOKEN` (the global flags).
 */
import type { ACLToken, ACLTokenListStub } from '../../structs/index.js';
import { command, bool, str, strs, UsageError, type CommandContext } from '../command.js';
import { formatKV } from '../format.js';

function tokenKV(t: ACLToken | ACLTokenListStub): string {
  const pairs: [string, string][] = [
    ['Accessor ID', t.AccessorID],
    ...('SecretID' in t ? [['Secret ID', t.SecretID] as [string, string]] : []),
    ['Name', t.Name || '<none>'],
    ['Type', t.Type],
    ['Global', String(t.Global)],
    ['Create Time', t.CreateTime],
    ['Expiry Time', t.ExpirationTime ?? '<none>'],
    ['Create Index', String(t.CreateIndex)],
    ['Modify Index', String(t.ModifyIndex)],
    ['Policies', `[${(t.Policies ?? []).join(' ')}]`],
    ['Roles', `[${(t.Roles ?? []).map((r) => r.Name).join(' ')}]`],
  ];
  return formatKV(pairs);
}

function printToken(ctx: CommandContext, t: ACLToken): number {
  ctx.out.result(t, () => tokenKV(t));
  return 0;
}

export const aclBootstrap = command('acl bootstrap [secret-file]', {
  summary: 'Bootstrap the ACL system: create the first management token',
  async run(ctx, [file]) {
    const secret = file ? (await ctx.readFile(file)).trim() : undefined;
    return printToken(ctx, await ctx.client().acl.bootstrap(secret, { signal: ctx.signal }));
  },
});

export const aclTokenCreate = command('acl token create', {
  summary: 'Create an ACL token',
  options: [
    { flags: '--name <name>', description: 'a name for the token' },
    { flags: '--type <type>', description: 'client or management', default: 'client' },
    { flags: '--policy <name>', description: 'a policy to link (repeatable)', repeatable: true },
    { flags: '--role-name <name>', description: 'a role to link by name (repeatable)', repeatable: true },
    { flags: '--role-id <id>', description: 'a role to link by ID (repeatable)', repeatable: true },
    { flags: '--global', description: 'replicate the token to every region' },
    { flags: '--ttl <duration>', description: 'the token expires after this long (e.g. 1h)' },
  ],
  async run(ctx, _args, opts) {
    const type = str(opts.type) ?? 'client';
    if (type !== 'client' && type !== 'management')
      throw new UsageError(`Error: -type must be client or management, got "${type}"`);
    const roles = [...strs(opts.roleName).map((Name) => ({ Name })), ...strs(opts.roleId).map((ID) => ({ ID }))];
    const t = await ctx.client().acl.createToken(
      {
        Name: str(opts.name),
        Type: type,
        Policies: strs(opts.policy),
        Roles: roles,
        Global: bool(opts.global),
        ExpirationTTL: str(opts.ttl),
      },
      { signal: ctx.signal },
    );
    return printToken(ctx, t);
  },
});

export const aclTokenList = command('acl token list', {
  summary: 'List ACL tokens',
  async run(ctx) {
    const list = (await ctx.client().acl.tokens({ signal: ctx.signal })).value ?? [];
    ctx.out.list(list, 'No tokens found', (tokens) => [
      ['Name', 'Type', 'Global', 'Accessor ID', 'Expired'],
      ...tokens.map((t) => [
        t.Name || '<none>',
        t.Type,
        String(t.Global),
        t.AccessorID,
        String(t.ExpirationTime !== null && Date.parse(t.ExpirationTime) <= ctx.now()),
      ]),
    ]);
    return 0;
  },
});

export const aclTokenInfo = command('acl token info <accessor-id>', {
  summary: 'Show an ACL token',
  async run(ctx, [accessor]) {
    return printToken(ctx, (await ctx.client().acl.token(accessor!, { signal: ctx.signal })).value);
  },
});

export const aclTokenSelf = command('acl token self', {
  summary: 'Show the token in use',
  async run(ctx) {
    return printToken(ctx, (await ctx.client().acl.self({ signal: ctx.signal })).value);
  },
});

export const aclTokenDelete = command('acl token delete <accessor-id>', {
  summary: 'Delete an ACL token',
  async run(ctx, [accessor]) {
    await ctx.client().acl.deleteToken(accessor!, { signal: ctx.signal });
    ctx.out.line(`Token ${accessor} successfully deleted`);
    return 0;
  },
});

export const aclPolicyApply = command('acl policy apply <name> <rules-file>', {
  summary: 'Create or update an ACL policy from a rules file ("-" reads stdin)',
  options: [{ flags: '--description <text>', description: 'what the policy is for' }],
  async run(ctx, [name, file], opts) {
    const rules = await ctx.readFile(file === '-' ? '/dev/stdin' : file!);
    await ctx
      .client()
      .acl.applyPolicy({ Name: name!, Description: str(opts.description) ?? '', Rules: rules }, { signal: ctx.signal });
    ctx.out.line(`Successfully wrote "${name}" ACL policy!`);
    return 0;
  },
});

export const aclPolicyList = command('acl policy list', {
  summary: 'List ACL policies',
  async run(ctx) {
    const list = (await ctx.client().acl.policies({ signal: ctx.signal })).value ?? [];
    ctx.out.list(list, 'No policies found', (ps) => [
      ['Name', 'Description'],
      ...ps.map((p) => [p.Name, p.Description || '<none>']),
    ]);
    return 0;
  },
});

export const aclPolicyInfo = command('acl policy info <name>', {
  summary: 'Show an ACL policy and its rules',
  async run(ctx, [name]) {
    const p = (await ctx.client().acl.policy(name!, { signal: ctx.signal })).value;
    if (ctx.out.json) {
      ctx.out.printJSON(p);
      return 0;
    }
    ctx.out.line(
      formatKV([
        ['Name', p.Name],
        ['Description', p.Description || '<none>'],
        ['CreateIndex', String(p.CreateIndex)],
        ['ModifyIndex', String(p.ModifyIndex)],
      ]),
    );
    ctx.out.section('Rules', p.Rules);
    return 0;
  },
});

export const aclPolicyDelete = command('acl policy delete <name>', {
  summary: 'Delete an ACL policy',
  async run(ctx, [name]) {
    await ctx.client().acl.deletePolicy(name!, { signal: ctx.signal });
    ctx.out.line(`Successfully deleted ${name} policy!`);
    return 0;
  },
});

export const aclRoleCreate = command('acl role create', {
  summary: 'Create an ACL role linking policies',
  options: [
    { flags: '--name <name>', description: 'the role name' },
    { flags: '--description <text>', description: 'what the role is for' },
    { flags: '--policy <name>', description: 'a policy to link (repeatable)', repeatable: true },
  ],
  async run(ctx, _args, opts) {
    const name = str(opts.name);
    if (!name) throw new UsageError('Error: -name is required');
    const r = await ctx
      .client()
      .acl.createRole(
        { Name: name, Description: str(opts.description), Policies: strs(opts.policy).map((Name) => ({ Name })) },
        { signal: ctx.signal },
      );
    ctx.out.result(r, () =>
      formatKV([
        ['ID', r.ID],
        ['Name', r.Name],
        ['Description', r.Description || '<none>'],
        ['Policies', r.Policies.map((p) => p.Name).join(',')],
      ]),
    );
    return 0;
  },
});

export const aclRoleList = command('acl role list', {
  summary: 'List ACL roles',
  async run(ctx) {
    const list = (await ctx.client().acl.roles({ signal: ctx.signal })).value ?? [];
    ctx.out.list(list, 'No ACL roles found', (roles) => [
      ['ID', 'Name', 'Description', 'Policies'],
      ...roles.map((r) => [r.ID, r.Name, r.Description || '<none>', r.Policies.map((p) => p.Name).join(',')]),
    ]);
    return 0;
  },
});

export const aclRoleDelete = command('acl role delete <role-id>', {
  summary: 'Delete an ACL role',
  async run(ctx, [id]) {
    await ctx.client().acl.deleteRole(id!, { signal: ctx.signal });
    ctx.out.line(`ACL role ${id} successfully deleted`);
    return 0;
  },
});

export const ACL_COMMANDS = [
  aclBootstrap,
  aclTokenCreate,
  aclTokenList,
  aclTokenInfo,
  aclTokenSelf,
  aclTokenDelete,
  aclPolicyApply,
  aclPolicyList,
  aclPolicyInfo,
  aclPolicyDelete,
  aclRoleCreate,
  aclRoleList,
  aclRoleDelete,
];
