/** `drover version` (also `drover -v`). */
import { createRequire } from 'node:module';
import { command } from '../command.js';

/** The package version; src/cli/commands and dist/cli/commands are both three levels below the root. */
export function droverVersion(): string {
  try {
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const version = command('version', {
  summary: 'Print the Drover version',
  async run(ctx) {
    ctx.out.result({ Version: droverVersion() }, () => `Drover v${droverVersion()}`);
    return 0;
  },
});
