/**
 * `drover kv put|get|delete`, as `consul kv` against Drover's Consul-compatible KV API: same flags, same
 * messages, same exit codes, so the write-ups' `consul kv ...` lines work with the word changed.
 */
import { kvEntryValue } from '../../api/index.js';
import type { KVEntry } from '../../structs/index.js';
import { command, bool, int, str, UsageError } from '../command.js';

const CAS_OPTIONS = [
  { flags: '--cas', description: 'check-and-set: act only if the key is at -modify-index (0: does not exist)' },
  { flags: '--modify-index <index>', description: 'the ModifyIndex -cas compares against', int: true },
];

function casOf(opts: Record<string, unknown>): number | undefined {
  if (!bool(opts.cas)) return undefined;
  const i = int(opts.modifyIndex);
  if (i === undefined) throw new UsageError('Error! Must specify -modify-index with -cas!');
  return i;
}

export const kvPut = command('kv put <key> [value]', {
  summary: 'Set the value of a key',
  options: [
    ...CAS_OPTIONS,
    { flags: '--flags <flags>', description: 'an unsigned integer stored with the key', int: true },
    { flags: '--base64', description: 'the value is base64: store its decoded bytes' },
  ],
  help: 'A value of @path reads the file at path. Without a value, the key is stored empty.',
  async run(ctx, [key, value], opts) {
    let data: Buffer;
    if (value === undefined) data = Buffer.alloc(0);
    else if (value.startsWith('@')) data = Buffer.from(await ctx.readFile(value.slice(1)), 'utf8');
    else data = Buffer.from(value, 'utf8');
    if (bool(opts.base64)) data = Buffer.from(data.toString('utf8'), 'base64');
    const cas = casOf(opts);
    const ok = await ctx.client().kv.put(key!, data, { cas, flags: int(opts.flags), signal: ctx.signal });
    if (!ok) {
      ctx.out.error(`Error! Did not write to ${key}: CAS failed`);
      return 1;
    }
    ctx.out.line(`Success! Data written to: ${key}`);
    return 0;
  },
});

function detailed(e: KVEntry): [string, string][] {
  return [
    ['CreateIndex', String(e.CreateIndex)],
    ['Flags', String(e.Flags)],
    ['Key', e.Key],
    ['LockIndex', String(e.LockIndex)],
    ['ModifyIndex', String(e.ModifyIndex)],
    ['Session', '-'],
    ['Value', kvEntryValue(e).toString('utf8')],
  ];
}

export const kvGet = command('kv get [key]', {
  summary: 'Read the value of a key, or of every key under a prefix',
  options: [
    { flags: '--recurse', description: 'every key under the prefix, as key:value lines' },
    { flags: '--keys', description: 'only the key names under the prefix' },
    { flags: '--separator <sep>', description: 'with -keys, cut names after this separator (default /)' },
    { flags: '--detailed', description: 'show the metadata (indexes, flags) with the value' },
    { flags: '--base64', description: 'print values base64-encoded' },
  ],
  async run(ctx, [key = ''], opts) {
    const client = ctx.client();
    const show = (e: KVEntry) => {
      const v = kvEntryValue(e);
      return bool(opts.base64) ? v.toString('base64') : v.toString('utf8');
    };
    if (bool(opts.keys)) {
      const { value } = await client.kv.keys(key, str(opts.separator) ?? '/', { signal: ctx.signal });
      if (ctx.out.json) ctx.out.printJSON(value);
      else for (const k of value) ctx.out.line(k);
      return 0;
    }
    if (bool(opts.recurse)) {
      const { value } = await client.kv.list(key, { signal: ctx.signal });
      if (ctx.out.json) ctx.out.printJSON(value);
      else
        for (const e of value) {
          if (!bool(opts.detailed)) ctx.out.line(`${e.Key}:${show(e)}`);
          else {
            ctx.out.kv(detailed(e));
            ctx.out.line();
          }
        }
      return 0;
    }
    if (key === '') throw new UsageError('Error! Missing KEY argument');
    const { value } = await client.kv.get(key, { signal: ctx.signal });
    if (value === null) {
      ctx.out.error(`Error! No key exists at: ${key}`);
      return 1;
    }
    if (ctx.out.json) ctx.out.printJSON(value);
    else if (bool(opts.detailed)) ctx.out.kv(detailed(value));
    else ctx.out.raw(show(value) + '\n');
    return 0;
  },
});

export const kvDelete = command('kv delete [key]', {
  summary: 'Delete a key, or every key under a prefix',
  options: [{ flags: '--recurse', description: 'delete every key under the prefix' }, ...CAS_OPTIONS],
  async run(ctx, [key = ''], opts) {
    const recurse = bool(opts.recurse);
    const cas = casOf(opts);
    if (recurse && cas !== undefined) throw new UsageError('Error! Cannot specify both -cas and -recurse!');
    if (key === '' && !recurse) throw new UsageError('Error! Missing KEY argument');
    const ok = await ctx.client().kv.delete(key, { recurse, cas, signal: ctx.signal });
    if (!ok) {
      ctx.out.error(`Error! Did not delete key ${key}: CAS failed`);
      return 1;
    }
    ctx.out.line(recurse ? `Success! Deleted keys with prefix: ${key}` : `Success! Deleted key: ${key}`);
    return 0;
  },
});
