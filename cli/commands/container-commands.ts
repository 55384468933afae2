import type { EngineConfig } from '../../core/config/engine-config.js';
import { ensureDockerEngine } from '../../plugins/shared/containers/docker-engine.js';
import { buildWorkloadImages, removeManagedContainers } from '../../plugins/spawner/index.js';

async function docker(config: EngineConfig) {
  return (await ensureDockerEngine({ dockerHost: config.dockerHost, logDir: config.dataDir, noInstall: config.noInstall, log: console.log })).docker;
}

export async function imagesBuildCommand(config: EngineConfig, force: boolean): Promise<string> {
  const built = await buildWorkloadImages(await docker(config), { force, log: console.log, install: { noInstall: config.noInstall, log: console.log } });
  return built.map((b) => `${b.name}  ${b.built ? `built in ${b.ms} ms` : 'present'}  ${b.id.slice(7, 19)}`).join('\n');
}

export async function cleanupCommand(config: EngineConfig, workflow: string | undefined): Promise<string> {
  const r = await removeManagedContainers(await docker(config), { workflow });
  const lines = [`removed ${r.removed.length} managed container(s)${workflow ? ` of ${workflow}` : ''}`];
  if (r.keptProtected.length) lines.push(`kept ${r.keptProtected.length} protected container(s)`);
  for (const f of r.failed) lines.push(`failed to remove ${f.id.slice(0, 12)}: ${f.error}`);
  return lines.join('\n');
}
