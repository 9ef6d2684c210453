/**
 * Gives struct-level problems (`TaskGroups[0].Tasks[1].Resources.CPU`) the file position and block
 * path of the HCL that produced them, by walking the decoded job along the problem's path.
 */
import type { Problem } from '../errors/index.js';
import type { Range } from './hcl/index.js';
import { originOf, type Obj } from './decode-body.js';
import { SCHEMA } from './schema.js';

function steps(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
}

export function locateProblems(decoded: Obj, problems: Problem[]): Problem[] {
  return problems.map((p) => {
    if (!p.path) return p;
    let cur: unknown = decoded;
    let best = originOf(decoded);
    let lastKey: string | number | undefined;
    let owner: Obj = decoded;
    for (const s of steps(p.path)) {
      if (cur === null || typeof cur !== 'object') break;
      owner = cur as Obj;
      lastKey = s;
      cur = (cur as Obj)[s as string];
      const o = cur && typeof cur === 'object' ? originOf(cur) : undefined;
      if (o) best = o;
    }
    if (!best) return p;
    let range: Range = best.block.typeRange;
    if (typeof lastKey === 'string' && originOf(owner) === best) {
      const spec = SCHEMA[best.spec];
      const hclName = spec && Object.entries(spec.attrs).find(([, a]) => a.field === lastKey)?.[0];
      const attr = hclName
        ? best.block.body.items.find((i) => i.kind === 'attribute' && i.name === hclName)
        : undefined;
      if (attr && attr.kind === 'attribute') range = attr.expr.range;
    }
    return { ...p, block: best.path, file: range.filename, line: range.start.line, column: range.start.column };
  });
}
