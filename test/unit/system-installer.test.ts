import { describe, expect, it } from 'vitest';
import { MissingDependencyError, aptInstall } from '../../core/services/system-installer.js';

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
});
