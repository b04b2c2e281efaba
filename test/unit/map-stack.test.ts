import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { loadMap, mapStack } from '../../scripts/map-stack.js';

describe('map-stack: an HTTP function’s minified stack, resolved offline', () => {
  it('names the source file and line of each frame, from a map without the sources’ text', () => {
    const dir = mkdtempSync(join(tmpdir(), 'map-stack-'));
    const source = join(dir, 'handler.ts');
    writeFileSync(
      source,
      [
        'export function parseBody(text: string): unknown {',
        '  if (text.length === 0) {',
        "    throw new Error('empty body');",
        '  }',
        '  return JSON.parse(text);',
        '}',
        "parseBody('');",
        '',
      ].join('\n'),
    );
    const bundle = join(dir, 'index.mjs');
    // As infra/constructs/service-function.ts bundles a function.
    buildSync({
      entryPoints: [source],
      outfile: bundle,
      bundle: true,
      minify: true,
      sourcemap: true,
      sourcesContent: false,
      format: 'esm',
      platform: 'node',
      logLevel: 'silent',
    });
    // Run as such a function runs: no --enable-source-maps.
    const run = spawnSync(process.execPath, [bundle], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/index\.mjs:1:\d+/);
    expect(run.stderr).not.toMatch(/handler\.ts/);

    const mapped = mapStack(run.stderr, loadMap(`${bundle}.map`));
    expect(mapped).toMatch(/handler\.ts:3:\d+/);
    expect(mapped).not.toMatch(/index\.mjs:1:\d+/);
  });

  it('leaves what is not a position in the bundle as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'map-stack-'));
    const bundle = join(dir, 'index.mjs');
    writeFileSync(join(dir, 'a.ts'), 'export const a = 1;\n');
    buildSync({
      entryPoints: [join(dir, 'a.ts')],
      outfile: bundle,
      bundle: true,
      sourcemap: true,
      logLevel: 'silent',
    });
    const text = 'Error: x\n    at node:internal/modules/run_main:1:2\n    at other.mjs:3:4\n';
    expect(mapStack(text, loadMap(`${bundle}.map`))).toBe(text);
  });
});
