/**
 * ID prefixes, as nomad allows: `alloc status 8ba8` lists with `?prefix=8ba8`; one match is used, several are
 * printed so the user can pick, none is "No allocation(s) with prefix or id ... found".
 */
import { UsageError } from './command.js';
import { formatTable } from './format.js';
import type { Output } from './output.js';

/** The one item whose ID is or starts with `prefix`; several matches are listed on stderr and fail. */
export async function resolvePrefix<T extends { ID: string }>(
  out: Output,
  what: string,
  prefix: string,
  list: (prefix: string) => Promise<T[]>,
  describe: (matches: T[]) => string[][],
): Promise<T> {
  if (prefix === '') throw new UsageError(`Error: ${what} ID is empty`);
  const matches = await list(prefix);
  const exact = matches.find((m) => m.ID === prefix);
  if (exact) return exact;
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UsageError(`No ${what}(s) with prefix or id "${prefix}" found`);
  out.error(`Prefix matched multiple ${what}s`);
  out.error('');
  out.error(formatTable(describe(matches)));
  throw new UsageError('', 1);
}
