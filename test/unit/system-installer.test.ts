import { describe, expect, it } from 'vitest';
import { MissingDependencyError, aptInstall } from '../../core/services/system-installer.js';
import { ensureChromium } from '../support/chromium.js';

describe('installing what is missing', () => {
  it('with TIDEFLOW_NO_INSTALL=1 installs nothing and gives the exact command', () => {
    const lines: string[] = [];
    let err: unknown;
    try {
      aptInstall(['redis-server'], 'redis-server', { noInstall: true, log: (m) => lines.push(m) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingDependencyError);
    expect((err as Error).message).toContain('TIDEFLOW_NO_INSTALL=1 forbids installing it');
    expect((err as MissingDependencyError).howToInstall).toBe('sudo apt-get update && apt-get install -y redis-server');
    expect(lines).toEqual([]);
  });

  it('Chromium for the browser test: found on PATH, or with TIDEFLOW_NO_INSTALL=1 the exact apt command', () => {
    const lines: string[] = [];
    expect(ensureChromium({ noInstall: true, log: (m) => lines.push(m) }, ['sh'])).toMatch(/\/sh$/);
    let err: unknown;
    try {
      ensureChromium({ noInstall: true, log: (m) => lines.push(m) }, ['no-such-chromium-here']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingDependencyError);
    expect((err as MissingDependencyError).howToInstall).toBe('sudo apt-get update && apt-get install -y chromium');
    expect(lines).toEqual([]);
  });
});
