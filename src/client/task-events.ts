/**
 * Nomad's task events with the display messages its CLI and UI show (`alloc status` → Recent Events).
 */
import { TaskEventTypes, type TaskEvent } from '../structs/index.js';
import { formatGoDuration } from '../lib/duration.js';
import { ReasonWithinPolicy } from './restart-tracker.js';

type Extra = Partial<Omit<TaskEvent, 'Type' | 'Time' | 'DisplayMessage' | 'Details'>>;

/** A task event; `nowMs` is unix ms, stored as nanoseconds like Nomad. */
export function taskEvent(
  type: string,
  nowMs: number,
  extra: Extra = {},
  details: Record<string, string> = {},
): TaskEvent {
  const ev: TaskEvent = { Type: type, Time: nowMs * 1e6, DisplayMessage: '', Details: details, ...extra };
  ev.DisplayMessage = displayMessage(ev);
  return ev;
}

function displayMessage(e: TaskEvent): string {
  const T = TaskEventTypes;
  switch (e.Type) {
    case T.Received:
      return 'Task received by client';
    case T.Setup:
      return e.Message ?? '';
    case T.Started:
      return 'Task started by client';
    case T.Terminated: {
      let s = `Exit Code: ${e.ExitCode ?? 0}`;
      if (e.Signal) s += `, Signal: ${e.Signal}`;
      if (e.Details.oom_killed === 'true') s += ', OOM Killed';
      if (e.Message) s += `, Exit Message: ${JSON.stringify(e.Message)}`;
      return s;
    }
    case T.Restarting: {
      const inMsg = `Task restarting in ${formatGoDuration(e.StartDelay ?? 0)}`;
      return e.RestartReason && e.RestartReason !== ReasonWithinPolicy ? `${e.RestartReason} - ${inMsg}` : inMsg;
    }
    case T.NotRestarting:
      return e.RestartReason || 'Task exceeded restart policy';
    case T.Killing:
      return `Sent interrupt. Waiting ${formatGoDuration(e.KillTimeout ?? 0)} before force killing`;
    case T.Killed:
      return e.KillError ? `Task killed with error: ${e.KillError}` : 'Task successfully killed';
    case T.DriverFailure:
      return e.DriverError ? e.DriverError : 'Failed to start task';
    case T.Signaling: {
      const sig = e.TaskSignal ?? '';
      const reason = e.TaskSignalReason ?? '';
      if (!sig && !reason) return 'Task being sent a signal';
      if (!sig) return reason;
      return reason ? `Task being sent signal ${sig}: ${reason}` : `Task being sent signal ${sig}`;
    }
    case T.SiblingFailed:
      return `Task's sibling ${JSON.stringify(e.FailedSibling ?? '')} failed`;
    case T.LeaderDead:
      return 'Leader Task in Group dead';
    case T.OOMKilled:
      return 'OOM Killed';
    case T.RestartSignal:
      return e.RestartReason || 'User requested restart';
    case T.SetupFailure:
      return e.SetupError ? `Error setting up task: ${e.SetupError}` : 'Error setting up task';
    case T.Downloading:
      return 'Client is downloading artifacts';
    case T.ArtifactDownloadFailed:
      return e.DownloadError || 'Failed to download artifacts';
    case T.HookFailed:
      return e.Message ? `Task hook failed: ${e.Message}` : 'Task hook failed';
    default:
      return e.Message ?? e.DriverMessage ?? '';
  }
}
