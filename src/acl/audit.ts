/**
 * The audit log (Nomad keeps it for Enterprise): one JSON line per API request, after it is answered, with who
 * (token accessor and name), what (method, path, namespace), from where, and the outcome (HTTP status).
 *
 * The file sink rotates by size: `audit.log` → `audit.log.1` → ... → `audit.log.<rotate_max_files>` (the oldest
 * dropped). Lines are appended synchronously, so an acknowledged request always has its line on disk (in the page
 * cache) before the next request is read; a failing sink is logged and does not fail requests.
 */
import { appendFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';

export interface AuditSinkConfig {
  path: string;
  /** Rotate once the file would pass this many bytes (0: never). */
  rotateBytes: number;
  /** How many rotated files to keep. */
  rotateMaxFiles: number;
}

export interface AuditEvent {
  accessorID: string;
  tokenName?: string;
  method: string;
  path: string;
  namespace: string;
  remoteAddress: string;
  status: number;
}

export class AuditLog {
  private size: number;

  constructor(
    private readonly cfg: AuditSinkConfig,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {
    mkdirSync(dirname(cfg.path), { recursive: true, mode: 0o700 });
    this.size = existsSync(cfg.path) ? statSync(cfg.path).size : 0;
  }

  write(ev: AuditEvent, now = Date.now()): void {
    const line =
      JSON.stringify({
        created_at: new Date(now).toISOString(),
        event_type: 'audit',
        payload: {
          id: randomUUID(),
          stage: 'OperationComplete',
          type: 'audit',
          timestamp: new Date(now).toISOString(),
          auth: { accessor_id: ev.accessorID, name: ev.tokenName ?? '' },
          request: {
            operation: ev.method,
            endpoint: ev.path,
            namespace: { id: ev.namespace },
            request_meta: { remote_address: ev.remoteAddress },
          },
          response: { status_code: ev.status },
        },
      }) + '\n';
    try {
      const bytes = Buffer.byteLength(line);
      if (this.cfg.rotateBytes > 0 && this.size > 0 && this.size + bytes > this.cfg.rotateBytes) this.rotate();
      appendFileSync(this.cfg.path, line, { mode: 0o600 });
      this.size += bytes;
    } catch (e) {
      this.onError(e);
    }
  }

  private rotate(): void {
    const p = this.cfg.path;
    const max = Math.max(0, this.cfg.rotateMaxFiles);
    if (max === 0) {
      rmSync(p, { force: true });
    } else {
      rmSync(`${p}.${max}`, { force: true });
      for (let i = max - 1; i >= 1; i--) if (existsSync(`${p}.${i}`)) renameSync(`${p}.${i}`, `${p}.${i + 1}`);
      renameSync(p, `${p}.1`);
    }
    this.size = 0;
  }
}
