/**
 * Deployments track a rolling update of a job version.
 *   running ──► successful | failed | cancelled;  running ⇄ paused;  running ──► blocked (multiregion)
 */
export const DeploymentStatusRunning = 'running';
export const DeploymentStatusPaused = 'paused';
export const DeploymentStatusFailed = 'failed';
export const DeploymentStatusSuccessful = 'successful';
export const DeploymentStatusCancelled = 'cancelled';
export const DeploymentStatusPending = 'pending';
export const DeploymentStatusBlocked = 'blocked';

export interface DeploymentState {
  AutoRevert: boolean;
  AutoPromote: boolean;
  ProgressDeadline: number;
  RequireProgressBy: string | null;
  Promoted: boolean;
  PlacedCanaries: string[] | null;
  DesiredCanaries: number;
  DesiredTotal: number;
  PlacedAllocs: number;
  HealthyAllocs: number;
  UnhealthyAllocs: number;
}

export interface Deployment {
  ID: string;
  Namespace: string;
  JobID: string;
  JobVersion: number;
  JobModifyIndex: number;
  JobSpecModifyIndex: number;
  JobCreateIndex: number;
  IsMultiregion: boolean;
  TaskGroups: Record<string, DeploymentState>;
  Status: string;
  StatusDescription: string;
  EvalPriority?: number;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export interface DeploymentStatusUpdate {
  DeploymentID: string;
  Status: string;
  StatusDescription: string;
}
