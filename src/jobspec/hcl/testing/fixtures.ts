/** Locates Nomad's job files in the shared conformance data (read in tests only, never copied). */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `<repo>/../shared/conformance/nomad`, found from this file's place in the repository. */
export const CONFORMANCE_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../../shared/conformance/nomad');

/** Every `.hcl` / `.nomad` file under jobspec/ (with extra/) and e2e-jobs/, sorted. */
export function fixtureFiles(): string[] {
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
