import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addNetworkList, execPlugin, missingPlugins, type CniConfList } from './cni.js';

/**
 * Fake plugins: shell scripts that append their CNI_* environment and stdin to a log, then answer like a plugin
 * (a result, or a CNI error object and exit 1).
 */
let dir = '';
const log = () => join(dir, 'calls.log');
function plugin(name: string, answer: string, code = 0): void {
  const p = join(dir, name);
  writeFileSync(
    p,
    `#!/bin/sh\necho "$CNI_COMMAND ${name} $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $(cat)" >> ${log()}\necho '${answer}'\nexit ${code}\n`,
  );
  chmodSync(p, 0o755);
}
const calls = () =>
  readFileSync(log(), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').slice(0, 2).join(' '));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'drover-cni-bin-'));
  writeFileSync(log(), '');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const rt = () => ({ containerID: 'alloc-1', netnsPath: '/var/run/netns/x', ifName: 'eth0', binDirs: [dir] });
const list = (...types: string[]): CniConfList => ({
  cniVersion: '0.4.0',
  name: 'net1',
  plugins: types.map((type) => ({ type, capabilities: { portMappings: true } })),
});

describe('running CNI plugins by the CNI protocol', () => {
  it('passes command, container id, netns and interface in CNI_* and the config with runtimeConfig on stdin', async () => {
    plugin('one', '{"cniVersion":"0.4.0","ips":[{"address":"10.9.0.2/24","gateway":"10.9.0.1"}]}');
    const res = await execPlugin(
      list('one'),
      list('one').plugins[0]!,
      'ADD',
      {
        ...rt(),
        capabilityArgs: { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }] },
      },
      undefined,
    );
    expect(res.ips?.[0]?.address).toBe('10.9.0.2/24');
    const line = readFileSync(log(), 'utf8').trim();
    expect(line.startsWith('ADD one alloc-1 /var/run/netns/x eth0 ')).toBe(true);
    const conf = JSON.parse(line.split(' ').slice(5).join(' ')) as Record<string, unknown>;
    expect(conf).toEqual({
      type: 'one',
      cniVersion: '0.4.0',
      name: 'net1',
      runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }] },
    });
  });

  it("reports a plugin's CNI error object with the plugin, network and command", async () => {
    plugin('bad', '{"code":11,"msg":"failed to allocate","details":"range full"}', 1);
    await expect(execPlugin(list('bad'), list('bad').plugins[0]!, 'ADD', rt(), undefined)).rejects.toThrow(
      'CNI plugin "bad" of network "net1" failed on ADD: failed to allocate: range full',
    );
  });

  it('deletes the failed plugin and those already added, in reverse order, when a plugin of the chain fails', async () => {
    plugin('a', '{"cniVersion":"0.4.0"}');
    plugin('b', '{"cniVersion":"0.4.0"}');
    plugin('c', '{"code":7,"msg":"boom"}', 1);
    await expect(addNetworkList(list('a', 'b', 'c'), rt())).rejects.toThrow('boom');
    // The plugin that failed may have left state (rules, links) behind: it is DELeted too, as the CNI spec asks.
    expect(calls()).toEqual(['ADD a', 'ADD b', 'ADD c', 'DEL c', 'DEL b', 'DEL a']);
  });

  it('lists the plugin binaries missing from every CNI path directory', () => {
    plugin('present', '{}');
    expect(missingPlugins(list('present', 'absent'), [dir, join(dir, 'nope')])).toEqual(['absent']);
  });
});
