/** What the `var` commands share: nomad's formatted view of one variable. */
import type { Variable } from '../../structs/index.js';
import { formatKV, formatTime, nsToMs } from '../format.js';

/** `nomad var get`'s default output: the metadata, then the items as `key = value`, sorted. */
export function formatVariable(v: Variable): string {
  const head = formatKV([
    ['Namespace', v.Namespace],
    ['Path', v.Path],
    ['Create Time', formatTime(nsToMs(v.CreateTime))],
    ...(v.ModifyTime !== v.CreateTime ? ([['Modify Time', formatTime(nsToMs(v.ModifyTime))]] as [string, string][]) : []),
    ['Check Index', String(v.ModifyIndex)],
  ]);
  const keys = Object.keys(v.Items ?? {}).sort();
  const items = keys.length ? formatKV(keys.map((k) => [k, v.Items[k]!])) : '<none>';
  return `${head}\n\nItems\n${items}`;
}
