import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A newcomer's clone has nothing beside it: no team folder, no node_modules,
 * no data. HEAD cloned alone into an empty folder must install and pass the
 * typecheck and the unit tier there (scripts/fresh-clone-check.sh).
 */
it('the repo cloned alone into an empty folder installs and passes its unit tier', async () => {
  const script = join(__dirname, '..', '..', 'scripts', 'fresh-clone-check.sh');
  const { stdout, stderr } = await promisify(execFile)('bash', [script], {
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, CI: 'true' },
  }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`fresh clone failed: ${error.message}\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
  });
  const output = `${stdout}\n${stderr}`;
  expect(output).toMatch(/fresh-clone: \S+ in \S+, alone: repo\n/);
  expect(output).toMatch(/Tests:\s+\d+ passed, \d+ total/);
  expect(output).toContain('fresh-clone: passed');
}, 900_000);
