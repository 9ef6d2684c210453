/**
 * A multiregion rollout as the servers keep it in state (src/agent/multiregion.ts drives it), so a leader
 * change or a restart continues it where it was instead of leaving later regions unstarted.
 */
import type { Job } from './job.js';

/** One region's place in a rollout. */
export interface MultiregionRolloutRegion {
  /** `started` (registered, its deployment watched), then the deployment's final status, or `no deployment`. */
  Status: string;
  /** The registration's job modify index: the deployment of that version is the one waited for. */
  JobModifyIndex?: number;
}

export interface MultiregionRollout {
  Namespace: string;
  JobID: string;
  /** The job as submitted, its `Multiregion` block included. */
  Job: Job;
  /** The register request's other fields (EnforceIndex, PolicyOverride...), sent again to each region. */
  Body: Record<string, unknown>;
  /** The submitter's ACL token, presented to each region as the submission was (as secret as the tokens table). */
  Token?: string;
  /** Regions in rollout order; the ones in `Regions` have been started. */
  Order: string[];
  MaxParallel: number;
  OnFailure: string;
  Regions: Record<string, MultiregionRolloutRegion>;
  /** `running`, `successful` (every region done) or `stopped` (a region failed and later ones were not started). */
  Status: string;
}
