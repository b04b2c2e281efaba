import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';

/*
 * Resolves a stack trace an HTTP function logged to the source it was built from. Those
 * functions run without `--enable-source-maps` (it parses the whole map at every cold start:
 * docs/benchmarks.md), so their stacks name positions in the minified bundle, `index.mjs:1:23456`.
 * The map is in the function's package beside its bundle, and in `cdk.out` after a synth of
 * the deployed commit.
 *
 *   npm run map-stack -- path/to/index.mjs.map < stack.txt
 */

const POSITION = /(?:file:\/\/\/[^\s()]*\/)?index\.mjs:(\d+):(\d+)/g;

/** The text with each `index.mjs:<line>:<column>` replaced by `<source>:<line>:<column>`. */
export function mapStack(text: string, map: SourceMap): string {
  return text.replace(POSITION, (position, line: string, column: string) => {
    const entry = map.findEntry(Number(line) - 1, Number(column) - 1);
    if (!entry || !('originalSource' in entry)) return position;
    const source = entry.originalSource.replace(/^(?:\.\.\/)+|^file:\/\//, '');
    return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

export function loadMap(path: string): SourceMap {
  return new SourceMap(JSON.parse(readFileSync(path, 'utf8')));
}

if (process.argv[1]?.endsWith('map-stack.ts')) {
  const [path] = process.argv.slice(2);
  if (!path) {
    process.stderr.write('usage: npm run map-stack -- <the function bundle’s index.mjs.map> < stack.txt\n');
    process.exit(2);
  }
  process.stdout.write(mapStack(readFileSync(0, 'utf8'), loadMap(path)));
}
