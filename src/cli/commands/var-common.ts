/** What the `var` commands share: nomad's formatted view of one variable. */
import type { Variable } from '../../structs/index.js';
import { formatKV, formatTime, nsToMs, sortedEntries } from '../format.js';

/** `nomad var get`'s default output: the metadata, then the items as `key = value`, sorted. */
export function formatVariable(v: Variable): string {
  const head = formatKV([
    ['Namespace', v.Namespace],
    ['Path', v.Path],
    ['Create Time', formatTime(nsToMs(v.CreateTime))],
    ...(v.ModifyTime !== v.CreateTime
      ? ([['Modify Time', formatTime(nsToMs(v.ModifyTime))]] as [string, string][])
      : []),
    ['Check Index', String(v.ModifyIndex)],
  ]);
  const entries = sortedEntries(v.Items ?? {});
  const items = entries.length ? formatKV(entries) : '<none>';
  return `${head}\n\nItems\n${items}`;
}
