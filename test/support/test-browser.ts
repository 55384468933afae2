import { chromium, type BrowserContext } from 'playwright-core';
import { inject } from 'vitest';

// Flags for this machine: no sandbox as root, no GPU, and no background
// traffic (the network is closed; Chromium's own calls would be refused).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Headless Chromium (found or installed by test/global-setup.ts) with a fresh profile in `profileDir`. */
export function launchTestBrowser(profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: inject('chromiumPath'),
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
  });
}
