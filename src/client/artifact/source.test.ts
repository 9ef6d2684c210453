import { describe, expect, it } from 'vitest';
import { parseArtifactSource, parseChecksum } from './source.js';

describe('artifact source', () => {
  it('takes go-getter parameters out of the URL and keeps the rest of the query', () => {
    const s = parseArtifactSource(
      'https://h.test/dl/app.bin?token=t&archive=zip',
      { checksum: 'md5:' + 'a'.repeat(32) },
      '/t',
    );
    expect(s).toEqual({
      kind: 'http',
      location: 'https://h.test/dl/app.bin?token=t',
      archive: 'zip',
      checksum: { algo: 'md5', hex: 'a'.repeat(32) },
      filename: 'app.bin',
    });
  });

  it('detects the archive type from the extension unless archive = false', () => {
    expect(parseArtifactSource('http://h/a.tgz', {}, '/t').archive).toBe('tar.gz');
    expect(parseArtifactSource('http://h/a.tar.gz', {}, '/t').archive).toBe('tar.gz');
    expect(parseArtifactSource('http://h/a.tar', {}, '/t').archive).toBe('tar');
    expect(parseArtifactSource('http://h/a.zip', {}, '/t').archive).toBe('zip');
    expect(parseArtifactSource('http://h/a.gz', {}, '/t').archive).toBe('gz');
    expect(parseArtifactSource('http://h/a.bin', {}, '/t').archive).toBeNull();
    expect(parseArtifactSource('http://h/a.tgz', { archive: 'false' }, '/t').archive).toBeNull();
  });

  it('reads file URLs, absolute paths and paths relative to the task directory', () => {
    expect(parseArtifactSource('file:///srv/pkg.tgz', {}, '/t')).toMatchObject({
      kind: 'file',
      location: '/srv/pkg.tgz',
    });
    expect(parseArtifactSource('/srv/pkg.tgz', {}, '/t')).toMatchObject({ kind: 'file', location: '/srv/pkg.tgz' });
    expect(parseArtifactSource('../alloc/data/x.bin?filename=y', {}, '/a/web')).toMatchObject({
      kind: 'file',
      location: '/a/alloc/data/x.bin',
      filename: 'y',
    });
  });

  it('guesses a checksum type from its length and refuses a malformed one', () => {
    expect(parseChecksum('b'.repeat(64))).toEqual({ algo: 'sha256', hex: 'b'.repeat(64) });
    expect(parseChecksum('SHA1:' + 'C'.repeat(40))).toEqual({ algo: 'sha1', hex: 'c'.repeat(40) });
    expect(() => parseChecksum('sha256:abc')).toThrow(/64 hex characters/);
    expect(() => parseChecksum('crc:1234')).toThrow(/expected md5:, sha1:, sha256: or sha512:/);
    expect(() => parseChecksum('sha256:' + 'z'.repeat(64))).toThrow(/64 hex characters/);
  });

  it('refuses a filename parameter that is a path', () => {
    expect(() => parseArtifactSource('http://h/a?filename=../x', {}, '/t')).toThrow(/plain file name/);
  });
});
