import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { ensureDockerEngine } from '../../plugins/shared/containers/docker-engine.js';
import { buildWorkloadImages } from '../../plugins/spawner/images/workload-images.js';
import { formatSummary, readSummary, resetSummary } from './support/fault-summary.js';

/**
 * The fault suite needs a real Docker engine with the workload images; a
 * missing one fails the run (never a skip). Each scenario starts its own
 * redis-server processes, since it kills them.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const dataDir = path.resolve('data/faults');
  mkdirSync(dataDir, { recursive: true });
  resetSummary();
  const log = (m: string) => console.log(`[faults setup] ${m}`);
  const { docker } = await ensureDockerEngine({ dockerHost: process.env.DOCKER_HOST, logDir: dataDir, noInstall: process.env.TIDEFLOW_NO_INSTALL === '1', log });
  await buildWorkloadImages(docker);
  return async () => {
    const rows = readSummary();
    console.log('\n' + formatSummary(rows));
    if (rows.some((r) => !r.ok)) console.log(`${rows.filter((r) => !r.ok).length} scenario(s) violated their guarantees`);
  };
}
