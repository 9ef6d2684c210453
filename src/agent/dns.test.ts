import * as net from 'node:net';
import dns2 from 'dns2';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../logging/index.js';
import type { Server } from '../server/index.js';
import type { ServiceRegistration } from '../structs/index.js';
import { defaultConfig } from './config.js';
import { startAgentDns, type AgentDns } from './dns.js';

const { UDPClient } = dns2;

const reg = (id: string, port: number, status: ServiceRegistration['Status']): ServiceRegistration => ({
  ID: id,
  ServiceName: 'web',
  Namespace: 'default',
  NodeID: 'n1',
  Datacenter: 'dc1',
  JobID: 'web',
  AllocID: id,
  Tags: ['x'],
  Address: '127.0.0.1',
  Port: port,
  CreateIndex: 1,
  ModifyIndex: 1,
  Status: status,
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the agent DNS server', () => {
  it("answers from the server's catalog at every query, passing instances only", async () => {
    const regs = [reg('a', 7001, 'passing'), reg('b', 7002, 'critical')];
    const server = { services: { registrations: () => regs } } as unknown as Server;
    const config = { ...defaultConfig(true), ports: { http: 0, dns: 0 } };
    const dns = (await startAgentDns(config, server, memoryLogger()))!;
    cleanups.push(() => dns.stop());
    const resolve = UDPClient({ dns: '127.0.0.1', port: dns.server.port, timeout: 2000 });
    expect((await resolve('web.service.drover', 'SRV')).answers.map((a) => a.port)).toEqual([7001]);
    regs[1] = reg('b', 7002, 'passing');
    expect((await resolve('x.web.service.drover', 'SRV')).answers.map((a) => a.port).sort()).toEqual([7001, 7002]);
  });

  it('is off unless enabled, and a taken port leaves the agent running without DNS, saying so', async () => {
    const server = { services: { registrations: () => [] } } as unknown as Server;
    expect(
      await startAgentDns(
        { ...defaultConfig(false), server: { ...defaultConfig(false).server, enabled: true } },
        server,
        memoryLogger(),
      ),
    ).toBeUndefined();
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => taken.close(() => r())));
    const port = (taken.address() as net.AddressInfo).port;
    const logger = memoryLogger();
    let dns: AgentDns | undefined;
    try {
      dns = await startAgentDns({ ...defaultConfig(true), ports: { http: 0, dns: port } }, server, logger);
    } finally {
      if (dns) await dns.stop();
    }
    expect(dns).toBeUndefined();
    expect(logger.lines.some((l) => l.msg === 'dns server not started' && l.fields.port === port)).toBe(true);
  });
});
