import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository's own sync modules (shared/ in the repo, not any folder beside it). */
const SYNC_DIR = join(resolve(__dirname, '..', '..'), 'shared', 'sync');

const importsOf = (file: string) =>
  [...readFileSync(join(SYNC_DIR, file), 'utf8').matchAll(/from '\.\/([a-z-]+)\.js'/g)].map((m) => m[1]);

describe('the sync modules form a line, not a circle', () => {
  it('run-context ← backfill, incremental ← sync-run', () => {
    expect(importsOf('run-context.ts')).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^(sync-run|backfill|incremental)$/)]),
    );
    for (const pass of ['backfill.ts', 'incremental.ts']) {
      expect(importsOf(pass)).toContain('run-context');
      expect(importsOf(pass)).not.toContain('sync-run');
    }
    expect(importsOf('sync-run.ts')).toEqual(
      expect.arrayContaining(['backfill', 'incremental', 'run-context']),
    );
  });
});
