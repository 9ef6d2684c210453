/**
 * The plan applier's capacity check, injected so that the applier and the scheduler always apply
 * the same arithmetic: by default the scheduler module's `allocsFit` (cpu, memory, disk, host ports).
 */
import type { Allocation, Node } from '../structs/index.js';

export interface FitCheck {
  fit: boolean;
  dimension?: string;
}

export type AllocsFitFn = (node: Node, allocs: Iterable<Allocation>) => FitCheck;
