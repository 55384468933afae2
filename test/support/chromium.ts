import { aptInstall, findExecutable, type InstallOptions } from '../../core/services/system-installer.js';

/** Debian's package and the names its browser goes by. */
const PACKAGE = 'chromium';
const NAMES = ['chromium', 'chromium-browser'];

/**
 * The Chromium the dashboard browser test drives, bootstrapped like Redis and
 * Docker: found on PATH, else installed with apt when we are root and
 * installs are allowed (TIDEFLOW_NO_INSTALL), else a MissingDependencyError
 * with the exact command.
 */
export function ensureChromium(opts: InstallOptions, names: readonly string[] = NAMES): string {
  const find = () => names.map(findExecutable).find((p) => p !== undefined);
  const found = find();
  if (found) return found;
  aptInstall([PACKAGE], 'Chromium (for the dashboard browser test)', opts);
  const installed = find();
  if (!installed) throw new Error(`apt-get installed ${PACKAGE} but none of ${names.join(', ')} is on PATH`);
  return installed;
}
