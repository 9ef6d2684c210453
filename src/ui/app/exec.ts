/**
 * The exec terminal's wire protocol, apart from the terminal so it is unit tested in Node: Nomad's `alloc exec`
 * websocket (`/v1/client/allocation/:id/exec`, see src/http/routes/client-exec.ts). A browser cannot set
 * `X-Nomad-Token` on a websocket, so the URL asks for `ws_handshake=true` and the first frame carries the token
 * (`{"version":1,"auth_token":"..."}`); after it every failure comes back as a close frame with the API's text.
 *
 *   page → agent   {"stdin":{"data":"<base64>"}}   {"tty_size":{"height":h,"width":w}}
 *   agent → page   {"stdout":{"data":"<base64>"}}  {"stderr":{"data":"<base64>"}}
 *                  {"exited":true,"result":{"exit_code":N}}, then close 1000
 */

/** The websocket URL of an exec of `command` in `task`, for a page served from `origin` (http or https). */
export function execUrl(origin: string, allocId: string, task: string, command: string[]): string {
  const q = new URLSearchParams({ task, command: JSON.stringify(command), tty: 'true', ws_handshake: 'true' });
  return `${origin.replace(/^http/, 'ws')}/v1/client/allocation/${encodeURIComponent(allocId)}/exec?${q}`;
}

/** The handshake frame: the signed-in token, or none (an agent without ACLs ignores it). */
export function handshakeFrame(token: string | null): string {
  return JSON.stringify({ version: 1, auth_token: token ?? '' });
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** What the user typed (the terminal hands over text), as a stdin frame of its UTF-8 bytes. */
export function stdinFrame(text: string): string {
  return JSON.stringify({ stdin: { data: toBase64(new TextEncoder().encode(text)) } });
}

export function resizeFrame(rows: number, cols: number): string {
  return JSON.stringify({ tty_size: { height: rows, width: cols } });
}

export type ExecEvent =
  | { kind: 'output'; data: Uint8Array }
  | { kind: 'exited'; exitCode: number }
  | { kind: 'ignored' }
  | { kind: 'invalid'; reason: string };

/** One frame from the agent. Output keeps its bytes: the terminal decodes UTF-8 split across frames itself. */
export function parseExecFrame(text: string): ExecEvent {
  let f: unknown;
  try {
    f = JSON.parse(text);
  } catch {
    return { kind: 'invalid', reason: 'a frame that is not JSON' };
  }
  if (f === null || typeof f !== 'object') return { kind: 'invalid', reason: 'a frame that is not a JSON object' };
  const { stdout, stderr, exited, result } = f as {
    stdout?: { data?: unknown };
    stderr?: { data?: unknown };
    exited?: unknown;
    result?: { exit_code?: unknown };
  };
  const out = stdout ?? stderr;
  if (out && typeof out.data === 'string') {
    try {
      return { kind: 'output', data: fromBase64(out.data) };
    } catch {
      return { kind: 'invalid', reason: 'output that is not base64' };
    }
  }
  if (exited === true) {
    const code = result?.exit_code;
    return { kind: 'exited', exitCode: typeof code === 'number' ? code : 0 };
  }
  return { kind: 'ignored' };
}

/** Words of the command field, split on blanks (no shell quoting: `/bin/sh -c "..."` is one for the shell). */
export function commandWords(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

/** What the page says when the socket closes: the exit code, or the agent's reason for closing. */
export function closeMessage(exitCode: number | undefined, code: number, reason: string): string {
  if (exitCode !== undefined) return `The command exited with code ${exitCode}.`;
  if (code === 1000) return 'The session ended.';
  if (reason) return `The session was refused or broken: ${reason}`;
  return `The connection closed (code ${code}) before the command exited.`;
}
