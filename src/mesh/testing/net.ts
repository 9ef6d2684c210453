/** Loopback helpers shared by the sidecar tests: a line service and a one-shot caller. */
import { connect, createServer, type Server } from 'node:net';

/** A TCP service answering each chunk with its name and the chunk. */
export async function echo(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.on('data', (d) => s.write(`${name}:${d.toString()}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : 0 };
}

/** Sends `msg` through 127.0.0.1:port; resolves the reply, or 'closed' when the connection ends without one. */
export function call(port: number, msg: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
      s.end();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(got === '' ? 'closed' : got));
    s.write(msg);
    setTimeout(() => s.destroy(), 5_000).unref();
  });
}
