import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCHEMA } from './schema.js';

describe('docs/jobspec.md', () => {
  it('mentions every block and attribute the decoder accepts', () => {
    const doc = readFileSync('docs/jobspec.md', 'utf8');
    const missing: string[] = [];
    for (const [name, spec] of Object.entries(SCHEMA)) {
      for (const k of [...Object.keys(spec.attrs), ...Object.keys(spec.blocks)])
        if (!doc.includes(`\`${k}\``)) missing.push(`${name}.${k}`);
    }
    expect(missing).toEqual([]);
  });
});
