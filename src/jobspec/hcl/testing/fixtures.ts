/** Locates Nomad's job files in the shared conformance data (read in tests only, never copied). */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CONFORMANCE_DIR, HAS_CONFORMANCE_DATA } from '../../../testing/conformance-data.js';

export { CONFORMANCE_DIR };

/** Every `.hcl` / `.nomad` file under jobspec/ (with extra/) and e2e-jobs/, sorted; none without the data. */
export function fixtureFiles(): string[] {
  if (!HAS_CONFORMANCE_DATA) return [];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(hcl|nomad)$/.test(e.name)) out.push(p);
    }
  };
  walk(join(CONFORMANCE_DIR, 'jobspec'));
  walk(join(CONFORMANCE_DIR, 'e2e-jobs'));
  return out.sort();
}
