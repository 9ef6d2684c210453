/**
 * Checks that every port label a service, check or docker `ports` uses is defined by a network
 * block of the group (or, for old files, the task's own network). Nomad defers this to register;
 * reporting it at parse time with a position saves a round trip.
 */
import type { Block } from './hcl/index.js';
import { problemAt, type DecodeCtx, type Obj } from './decode-body.js';

function labelsOf(networks: Obj[] | undefined): Set<string> {
  const s = new Set<string>();
  for (const n of networks ?? [])
    for (const p of [...(n.ReservedPorts ?? []), ...(n.DynamicPorts ?? [])]) s.add(p.Label);
  return s;
}

const isNumeric = (s: string) => /^\d+$/.test(s);

function findBlock(parent: Block, type: string, label?: string): Block | undefined {
  return parent.body.items.find(
    (i): i is Block => i.kind === 'block' && i.type === type && (label === undefined || i.labels[0] === label),
  );
}

export function checkPortLabels(job: Obj, jobBlock: Block, ctx: DecodeCtx): void {
  for (const g of (job.TaskGroups as Obj[] | undefined) ?? []) {
    const gb = findBlock(jobBlock, 'group', g.Name) ?? findBlock(jobBlock, 'task', g.Name) ?? jobBlock;
    const groupPorts = labelsOf(g.Networks);
    const taskPorts = new Set<string>();
    for (const t of g.Tasks ?? []) for (const l of labelsOf(t.Resources?.Networks)) taskPorts.add(l);
    const all = new Set([...groupPorts, ...taskPorts]);
    // With no network at all, Nomad's parser accepts any label (register rejects it: see validateJob).
    if (all.size === 0) continue;
    const check = (label: string | undefined, what: string, where: Block, path: string) => {
      if (!label || isNumeric(label) || label.includes('${') || all.has(label)) return;
      problemAt(
        ctx,
        where.typeRange,
        `Unknown port label "${label}": ${what} uses a port that no network block defines (defined: ${[...all].join(', ') || 'none'})`,
        path,
      );
    };
    const gpath = `job "${job.ID}" > group "${g.Name}"`;
    for (const s of g.Services ?? []) {
      check(s.PortLabel, `service "${s.Name ?? ''}"`, gb, gpath);
      for (const c of s.Checks ?? []) check(c.PortLabel, `check "${c.Name ?? ''}"`, gb, gpath);
    }
    for (const t of g.Tasks ?? []) {
      const tb = findBlock(gb, 'task', t.Name) ?? gb;
      const tpath = `${gpath} > task "${t.Name}"`;
      for (const s of t.Services ?? []) {
        if (s.AddressMode === 'driver') continue;
        check(s.PortLabel, `service "${s.Name ?? ''}"`, tb, tpath);
        for (const c of s.Checks ?? [])
          if (c.AddressMode !== 'driver') check(c.PortLabel, `check "${c.Name ?? ''}"`, tb, tpath);
      }
      const ports = t.Config?.ports;
      if (Array.isArray(ports))
        for (const p of ports) if (typeof p === 'string') check(p, 'the driver config "ports"', tb, tpath);
    }
  }
}
