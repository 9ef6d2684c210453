/**
 * The pause container of an allocation in bridge mode (Nomad's "infra" container). Docker can only put a container
 * into another container's network namespace (`network_mode = "container:<id>"`), never into a named one, so the
 * allocation's namespace is the pause container's: created with `NetworkMode: none` (loopback only), its
 * namespace is then pinned by the client (`ip netns attach`) and wired by the CNI chain like any other, and every
 * docker task of the group joins it with `container:<pause>`.
 *
 * The image is local: `infra_image` when the operator names one, else `drover/pause:latest`, built on demand from
 * the host's static busybox (no registry is needed or reached).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { driverError } from '../shared/index.js';
import { type DockerClient, isDockerStatus, readJSONLines } from './api.js';
import { CONTAINER_LABELS, pauseName } from './config.js';

export const DEFAULT_PAUSE_IMAGE = 'drover/pause:latest';
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'];

/** A ustar archive of regular files (enough for a build context). */
export function tarOf(files: Array<{ name: string; mode: number; data: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const h = Buffer.alloc(512);
    h.write(f.name, 0, 100, 'utf8');
    h.write(`${f.mode.toString(8).padStart(7, '0')}\0`, 100, 'ascii');
    h.write('0000000\0', 108, 'ascii');
    h.write('0000000\0', 116, 'ascii');
    h.write(`${f.data.length.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
    h.write(
      `${Math.floor(Date.now() / 1000)
        .toString(8)
        .padStart(11, '0')}\0`,
      136,
      'ascii',
    );
    h.write('        ', 148, 'ascii');
    h.write('0', 156, 'ascii');
    h.write('ustar\0' + '00', 257, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    parts.push(h, f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Builds `drover/pause:latest` from the host's static busybox: `sleep` forever, nothing else. */
async function buildPauseImage(client: DockerClient, signal?: AbortSignal): Promise<void> {
  const bin = BUSYBOX.find((p) => existsSync(p));
  if (!bin)
    throw driverError(
      `the pause image ${DEFAULT_PAUSE_IMAGE} is absent and cannot be built: no busybox in ${BUSYBOX.join(', ')} (install busybox-static or set infra_image)`,
      false,
    );
  const dockerfile = [
    'FROM scratch',
    'COPY busybox /busybox',
    'LABEL io.drover.pause=true',
    'ENTRYPOINT ["/busybox", "sleep", "2147483647"]',
    '',
  ].join('\n');
  const context = tarOf([
    { name: 'Dockerfile', mode: 0o644, data: Buffer.from(dockerfile) },
    { name: 'busybox', mode: 0o755, data: readFileSync(realpathSync(bin)) },
  ]);
  const res = await client.raw({
    method: 'POST',
    path: '/build',
    query: { t: DEFAULT_PAUSE_IMAGE, rm: 1, forcerm: 1 },
    body: context,
    headers: { 'content-type': 'application/x-tar' },
    signal,
  });
  let failure = res.status >= 300 ? `HTTP ${res.status}` : '';
  await readJSONLines(res.body, (line) => {
    if (typeof line.error === 'string') failure = line.error;
  });
  if (failure) throw driverError(`building the pause image ${DEFAULT_PAUSE_IMAGE} failed: ${failure}`, true);
}

/** Makes sure the pause image exists: the operator's must be present, the default one is built when absent. */
export async function ensurePauseImage(client: DockerClient, image: string, signal?: AbortSignal): Promise<void> {
  try {
    await client.json({ path: `/images/${encodeURIComponent(image)}/json`, signal });
    return;
  } catch (e) {
    if (!isDockerStatus(e, 404)) throw e;
  }
  if (image !== DEFAULT_PAUSE_IMAGE)
    throw driverError(`the pause image ${image} (infra_image) is not present locally`, false);
  await buildPauseImage(client, signal);
}

interface PauseInspect {
  Id: string;
  State: { Running: boolean; Pid: number };
}

/**
 * Creates and starts the allocation's pause container (or finds the running one of an earlier attempt) and
 * returns its id and pid.
 */
export async function startPause(
  client: DockerClient,
  allocID: string,
  image: string,
  signal?: AbortSignal,
): Promise<{ id: string; pid: number }> {
  const name = pauseName(allocID);
  const inspect = () => client.json<PauseInspect>({ path: `/containers/${name}/json`, signal });
  const existing = await inspect().catch((e: unknown) => {
    if (isDockerStatus(e, 404)) return undefined;
    throw e;
  });
  if (existing?.State.Running) return { id: existing.Id, pid: existing.State.Pid };
  if (existing) await client.json({ method: 'DELETE', path: `/containers/${existing.Id}`, query: { force: 1 } });
  await ensurePauseImage(client, image, signal);
  const created = await client.json<{ Id: string }>({
    method: 'POST',
    path: '/containers/create',
    query: { name },
    body: {
      Image: image,
      Labels: { [CONTAINER_LABELS.allocID]: allocID, 'io.drover.pause': 'true' },
      HostConfig: {
        NetworkMode: 'none',
        Init: false,
        LogConfig: { Type: 'none', Config: {} },
        // A small fixed footprint; the pause container only sleeps.
        Memory: 16 * 1024 * 1024,
      },
    },
    signal,
  });
  try {
    await client.json({ method: 'POST', path: `/containers/${created.Id}/start`, signal });
    const info = await inspect();
    if (!info.State.Running || info.State.Pid <= 0) throw new Error('the pause container is not running');
    return { id: created.Id, pid: info.State.Pid };
  } catch (e) {
    await client.json({ method: 'DELETE', path: `/containers/${created.Id}`, query: { force: 1 } }).catch(() => {});
    throw driverError(`cannot start the pause container of allocation ${allocID}: ${String(e)}`, true, e);
  }
}

/** Removes the allocation's pause container; nothing to do when it is gone. */
export async function removePause(client: DockerClient, allocID: string): Promise<void> {
  try {
    await client.json({ method: 'DELETE', path: `/containers/${pauseName(allocID)}`, query: { force: 1 } });
  } catch (e) {
    if (!isDockerStatus(e, 404)) throw e;
  }
}
