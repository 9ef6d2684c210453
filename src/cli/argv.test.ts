import { describe, expect, it } from 'vitest';
import { longFlagNames, normalizeArgv } from './argv.js';

const known = longFlagNames([
  '--check-index <index>',
  '--detach',
  '--var <name=value>',
  '-f, --follow',
  '--address <addr>',
  '--json',
  '-n <lines>',
]);

describe('normalizeArgv', () => {
  it('turns single-dash long flags into double-dash ones, with and without =value', () => {
    expect(
      normalizeArgv(['job', 'run', '-check-index', '5', '-detach', '-address=http://x:1', 'web.hcl'], known),
    ).toEqual(['job', 'run', '--check-index', '5', '--detach', '--address=http://x:1', 'web.hcl']);
  });

  it('keeps short flags, unknown flags, values and double-dash flags as they are', () => {
    expect(normalizeArgv(['-f', '-n', '5', '-x', '--json', '-var', 'a=-detach', 'file'], known)).toEqual([
      '-f',
      '-n',
      '5',
      '-x',
      '--json',
      '--var',
      'a=-detach',
      'file',
    ]);
  });

  it('leaves everything after -- alone', () => {
    expect(normalizeArgv(['-detach', '--', '-detach', '-json'], known)).toEqual(['--detach', '--', '-detach', '-json']);
  });

  it('does not touch negative numbers or a lone dash', () => {
    expect(normalizeArgv(['-1', '-', '-10s'], known)).toEqual(['-1', '-', '-10s']);
  });
});

describe('longFlagNames', () => {
  it('collects the long names of commander flag specs, skipping short-only ones', () => {
    expect([...known].sort()).toEqual(['address', 'check-index', 'detach', 'follow', 'json', 'var']);
  });
});
