import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteBackend } from './sqlite-backend.js';
import { describeBackendConformance } from '../testing/backend-conformance.js';
import { MemoryBackend } from '../backend.js';

describeBackendConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
  return {
    open: () => new SqliteBackend({ dataDir: dir }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describeBackendConformance('memory', async () => {
  const shared = new MemoryBackend();
  return {
    // The memory backend's "disk" is the object itself: reopening hands back the same one, unclosed.
    open: () => {
      shared.closed = false;
      return shared;
    },
    dispose: async () => {},
  };
});

describe('SqliteBackend', () => {
  it('runs in WAL mode so a commit is on disk before apply returns', () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-'));
    try {
      const b = new SqliteBackend({ dataDir: dir });
      const mode = (b as unknown as { db: { pragma(s: string, o: { simple: boolean }): unknown } }).db.pragma('journal_mode', { simple: true });
      expect(mode).toBe('wal');
      void b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
