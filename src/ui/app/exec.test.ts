import { describe, expect, it } from 'vitest';
import * as exec from './exec.js';

/** Base64 of a string's UTF-8 bytes, and back (this file is compiled for the browser, without Buffer). */
const b64 = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
const unb64 = (data: string) => new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
const text = (ev: unknown) => new TextDecoder().decode((ev as { data: Uint8Array }).data);

describe('the exec terminal protocol', () => {
  it('builds the websocket URL with the task, the command as JSON, a tty and the token handshake', () => {
    const u = new URL(exec.execUrl('https://agent:4646', 'a/1', 'web', ['/bin/sh', '-c', 'echo hi']));
    expect(u.protocol).toBe('wss:');
    expect(u.pathname).toBe('/v1/client/allocation/a%2F1/exec');
    expect(u.searchParams.get('task')).toBe('web');
    expect(JSON.parse(u.searchParams.get('command')!)).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(u.searchParams.get('tty')).toBe('true');
    expect(u.searchParams.get('ws_handshake')).toBe('true');
    expect(exec.execUrl('http://127.0.0.1:1', 'x', 't', ['sh'])).toMatch(/^ws:\/\/127\.0\.0\.1:1\//);
  });

  it('sends the token in the handshake frame, and an empty one when signed out', () => {
    expect(JSON.parse(exec.handshakeFrame('s3cret'))).toEqual({ version: 1, auth_token: 's3cret' });
    expect(JSON.parse(exec.handshakeFrame(null))).toEqual({ version: 1, auth_token: '' });
  });

  it('encodes typed text as UTF-8 base64 stdin and the size as tty_size', () => {
    const f = JSON.parse(exec.stdinFrame('echo é\r')) as { stdin: { data: string } };
    expect(unb64(f.stdin.data)).toBe('echo é\r');
    expect(JSON.parse(exec.resizeFrame(24, 80))).toEqual({ tty_size: { height: 24, width: 80 } });
  });

  it('decodes output frames to bytes, and reads the exit code', () => {
    const ev = exec.parseExecFrame(JSON.stringify({ stdout: { data: b64('hi é\r\n') } }));
    expect(ev.kind).toBe('output');
    expect(text(ev)).toBe('hi é\r\n');
    const err = exec.parseExecFrame(JSON.stringify({ stderr: { data: b64('oops') } }));
    expect(text(err)).toBe('oops');
    expect(exec.parseExecFrame('{"exited":true,"result":{"exit_code":3}}')).toEqual({ kind: 'exited', exitCode: 3 });
    expect(exec.parseExecFrame('{}')).toEqual({ kind: 'ignored' });
  });

  it('names a frame it cannot read instead of throwing', () => {
    expect(exec.parseExecFrame('not json')).toEqual({ kind: 'invalid', reason: 'a frame that is not JSON' });
    expect(exec.parseExecFrame('3')).toEqual({ kind: 'invalid', reason: 'a frame that is not a JSON object' });
    expect(exec.parseExecFrame('{"stdout":{"data":"%%%"}}')).toEqual({
      kind: 'invalid',
      reason: 'output that is not base64',
    });
  });

  it('splits the command field on blanks and says how the session ended', () => {
    expect(exec.commandWords('  /bin/sh   -l ')).toEqual(['/bin/sh', '-l']);
    expect(exec.commandWords('   ')).toEqual([]);
    expect(exec.closeMessage(0, 1000, '')).toBe('The command exited with code 0.');
    expect(exec.closeMessage(undefined, 1008, 'Permission denied')).toBe(
      'The session was refused or broken: Permission denied',
    );
    expect(exec.closeMessage(undefined, 1006, '')).toBe('The connection closed (code 1006) before the command exited.');
    expect(exec.closeMessage(undefined, 1000, '')).toBe('The session ended.');
  });
});
