/**
 * The allocation's Exec tab: a terminal (xterm.js, loaded when the tab first connects) over Nomad's `alloc exec`
 * websocket. The user picks a task and a command (`/bin/sh` by default) and connects; keys go to the command's
 * stdin, its output to the terminal, the terminal's size to the pty. When the command exits the page says its exit
 * code; when the agent refuses (ACL, unknown task, a command that does not exist) it shows the agent's reason.
 *
 *   Connect ─► import xterm ─► WebSocket(exec?ws_handshake=true) ─► token frame, size frame
 *     keys ─► stdin frames         output frames ─► terminal         exited frame ─► "exited with code N"
 *   Close / leaving the page ─► socket closed (the agent kills the command) and the terminal disposed
 */
import type { Terminal } from '@xterm/xterm';
import { useEffect, useRef, useState } from 'preact/hooks';
import { h } from '../dom.js';
import {
  closeMessage,
  commandWords,
  execUrl,
  handshakeFrame,
  parseExecFrame,
  resizeFrame,
  stdinFrame,
} from '../exec.js';
import { TOKEN_KEY } from '../token.js';
import type { ViewContext } from './context.js';

/** The terminal's stylesheet, vendored beside the module by src/ui/build.mjs. */
const XTERM_CSS = '/ui/vendor/xterm.css';
const ROWS = 24;
const COLS = 100;

interface Session {
  n: number;
  task: string;
  command: string[];
}

function loadCss(): void {
  if (document.querySelector(`link[href="${XTERM_CSS}"]`)) return;
  const l = document.createElement('link');
  l.rel = 'stylesheet';
  l.href = XTERM_CSS;
  document.head.append(l);
}

export function ExecTab({
  ctx,
  allocId,
  tasks,
  initialTask,
}: {
  ctx: ViewContext;
  allocId: string;
  tasks: string[];
  initialTask: string | undefined;
}) {
  const [task, setTask] = useState(initialTask && tasks.includes(initialTask) ? initialTask : (tasks[0] ?? ''));
  const [command, setCommand] = useState('/bin/sh');
  const [session, setSession] = useState<Session | undefined>(undefined);
  const [connected, setConnected] = useState(false);
  const [status, setStatus] = useState('Pick a task and a command, then connect.');
  const box = useRef<HTMLDivElement>(null);
  const socket = useRef<WebSocket | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!session || !el) return;
    const ac = new AbortController();
    let term: Terminal | undefined;
    let ws: WebSocket | undefined;
    const finish = () => {
      ac.abort();
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'closed by the user');
      term?.dispose();
    };
    ctx.signal.addEventListener('abort', finish, { once: true });
    const start = async () => {
      setStatus(`Connecting to task ${session.task}…`);
      let xterm: typeof import('@xterm/xterm');
      try {
        xterm = await import('@xterm/xterm');
      } catch (e) {
        setStatus(`The terminal could not be loaded: ${String(e)}`);
        return;
      }
      if (ac.signal.aborted) return;
      loadCss();
      el.replaceChildren();
      const t = new xterm.Terminal({ rows: ROWS, cols: COLS, cursorBlink: true, scrollback: 5000 });
      term = t;
      t.open(el);
      const w = new WebSocket(execUrl(location.origin, allocId, session.task, session.command));
      ws = w;
      socket.current = w;
      w.binaryType = 'arraybuffer';
      let exitCode: number | undefined;
      const send = (frame: string) => {
        if (w.readyState === WebSocket.OPEN) w.send(frame);
      };
      w.onopen = () => {
        send(handshakeFrame(localStorage.getItem(TOKEN_KEY)));
        send(resizeFrame(t.rows, t.cols));
        setConnected(true);
        setStatus(`Connected to task ${session.task}: ${session.command.join(' ')}`);
        t.focus();
      };
      t.onData((d) => send(stdinFrame(d)));
      t.onResize(({ rows, cols }) => send(resizeFrame(rows, cols)));
      w.onmessage = (m: MessageEvent<string | ArrayBuffer>) => {
        const ev = parseExecFrame(typeof m.data === 'string' ? m.data : new TextDecoder().decode(m.data));
        if (ev.kind === 'output') t.write(ev.data);
        else if (ev.kind === 'exited') exitCode = ev.exitCode;
        else if (ev.kind === 'invalid') setStatus(`The agent sent ${ev.reason}; ignored.`);
      };
      w.onclose = (c) => {
        if (socket.current === w) socket.current = null;
        // A session replaced or left behind says nothing: the page has moved on.
        if (ac.signal.aborted) return;
        setConnected(false);
        setStatus(closeMessage(exitCode, c.code, c.reason));
      };
    };
    void start();
    return () => {
      ctx.signal.removeEventListener('abort', finish);
      finish();
    };
  }, [ctx, allocId, session]);

  if (tasks.length === 0) return h('p', { class: 'empty' }, 'This allocation has no tasks.');
  const words = commandWords(command);
  return h(
    'div',
    null,
    h(
      'form',
      {
        class: 'exec-controls',
        onSubmit: (e: Event) => {
          e.preventDefault();
          if (words.length === 0) return;
          setSession((s) => ({ n: (s?.n ?? 0) + 1, task, command: words }));
        },
      },
      h('label', { for: 'exec-task' }, 'Task '),
      h(
        'select',
        { id: 'exec-task', value: task, onChange: (e: Event) => setTask((e.target as HTMLSelectElement).value) },
        tasks.map((t) => h('option', { value: t, key: t }, t)),
      ),
      ' ',
      h('label', { for: 'exec-command' }, 'Command '),
      h('input', {
        id: 'exec-command',
        value: command,
        autocomplete: 'off',
        spellcheck: false,
        onInput: (e: Event) => setCommand((e.target as HTMLInputElement).value),
      }),
      ' ',
      h('button', { type: 'submit', disabled: words.length === 0 }, connected ? 'Reconnect' : 'Connect'),
      ' ',
      h(
        'button',
        {
          type: 'button',
          disabled: !connected,
          onClick: () => socket.current?.close(1000, 'closed by the user'),
        },
        'Close',
      ),
    ),
    h('p', { class: 'exec-status', role: 'status' }, status),
    h('div', { ref: box, class: 'exec-terminal', 'aria-label': 'Terminal' }),
  );
}
