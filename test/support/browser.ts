import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

export const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

/**
 * Debian's Chromium, driven by playwright-core. CHROMIUM_PATH may name another
 * binary. Missing → the e2e tier fails saying what to install; it never skips.
 */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
    Boolean,
  ) as string[];
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    throw new Error(
      "The e2e tier needs Chromium. Install Debian's package as root: apt-get update && apt-get install -y chromium " +
        '(or set CHROMIUM_PATH to a Chromium binary).',
    );
  }
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}
