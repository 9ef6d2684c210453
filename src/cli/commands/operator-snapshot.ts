/**
 * `drover operator snapshot save FILE`: downloads a consistent copy of the server's state
 * (`GET /v1/operator/snapshot`). `drover operator snapshot restore FILE -data-dir DIR`: puts a snapshot in
 * place of a stopped agent's state (offline; the agent refuses to start on damaged state, and this is how an
 * operator gets back to a known-good one).
 */
import { writeFile, rename } from 'node:fs/promises';
import { command, str, UsageError } from '../command.js';

export const operatorSnapshotSave = command('operator snapshot save <file>', {
  summary: 'Save a snapshot of the server state to a file',
  async run(ctx, [file]) {
    const http = ctx.client().http;
    const url = http.url('/v1/operator/snapshot');
    const res = await http.send('GET', url, undefined, ctx.signal);
    const bytes = Buffer.from(await res.arrayBuffer());
    // Written beside the target and renamed, so an interrupted save never leaves a half file under the name.
    // A snapshot holds ACL secrets and the root keys: readable by its owner only.
    await writeFile(`${file}.part`, bytes, { mode: 0o600 });
    await rename(`${file}.part`, file!);
    ctx.out.line(
      `State file written to ${file} (index ${res.headers.get('x-nomad-index') ?? '?'}, ${bytes.length} bytes)`,
    );
    return 0;
  },
});

export const operatorSnapshotRestore = command('operator snapshot restore <file>', {
  summary: "Restore a snapshot into a stopped agent's data directory",
  options: [{ flags: '--data-dir <dir>', description: 'the agent data directory (the agent must be stopped)' }],
  async run(ctx, [file], opts) {
    const dataDir = str(opts.dataDir);
    if (!dataDir)
      throw new UsageError('-data-dir is required: the data directory of the stopped agent to restore into');
    // Loaded only here, from the agent module as `drover agent` does: restoring works on the stopped agent's files.
    const { join, resolve } = await import('node:path');
    const { restoreSnapshot } = await import('../../agent/index.js');
    const { index } = restoreSnapshot(file!, join(resolve(dataDir), 'server'));
    ctx.out.line(`Restored snapshot ${file} into ${dataDir} (state index ${index}); start the agent to serve it`);
    return 0;
  },
});
