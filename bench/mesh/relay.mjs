#!/usr/bin/env node
/* global process */
// The floor the mesh bench compares Drover's sidecars with: a bare Node relay with no proxy logic (no
// intentions, verdict byte, retry or replay), just two sockets piped together, one process per hop as the
// sidecars are.
//
//   node relay.mjs out <listen port> <to port> [<sidecar config>]   plain TCP in, TLS out when given a config
//   node relay.mjs in  <listen port> <to port> [<sidecar config>]   TLS in (client certificate required), TCP out
//
// The config is a sidecar config file (src/mesh/proxy.ts SidecarConfig): only its Material is used.
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer as tlsServer } from 'node:tls';

const [side, listenPort, toPort, cfgPath] = process.argv.slice(2);
const m = cfgPath ? JSON.parse(readFileSync(cfgPath, 'utf8')).Material : undefined;
const tls = m ? { cert: m.CertPEM, key: m.KeyPEM, ca: m.RootsPEM } : undefined;
// One context for every connection, as the sidecar keeps one (no PEM parsing per connection).
const secureContext = tls ? createSecureContext(tls) : undefined;

function join(a, b) {
  a.setNoDelay(true);
  b.setNoDelay(true);
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

const dial = () =>
  side === 'out' && tls
    ? tlsConnect({ host: '127.0.0.1', port: Number(toPort), secureContext, checkServerIdentity: () => undefined })
    : connect({ host: '127.0.0.1', port: Number(toPort) });
const server =
  side === 'in' && tls
    ? tlsServer({ ...tls, requestCert: true, rejectUnauthorized: true }, (a) => join(a, dial()))
    : createServer((a) => join(a, dial()));
server.listen(Number(listenPort), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
