import type { PluginCli, PluginCommandContext } from '../../core/plugin/plugin-cli.js';

// Light on purpose: the CLI reads this on every call; each verb imports its work when it runs.

async function docker(ctx: PluginCommandContext) {
  const [{ ensureDockerEngine }, { parseEnvSettings }, { DockerSettingsSchema }] = await Promise.all([
    import('../shared/containers/docker-engine.js'),
    import('../../core/config/env-settings.js'),
    import('../shared/containers/docker-service.js'),
  ]);
  const { DOCKER_HOST } = parseEnvSettings(DockerSettingsSchema, ctx.env);
  return (await ensureDockerEngine({ dockerHost: DOCKER_HOST, logDir: ctx.config.dataDir, noInstall: ctx.config.noInstall, log: ctx.log })).docker;
}

const spawnerCli: PluginCli = {
  commands: [
    {
      name: 'images build',
      description: 'build the 4 workload images locally (no registry needed)',
      options: [{ flags: '--force', description: 'rebuild even if present' }],
      async run(_args, options, ctx) {
        const { buildWorkloadImages } = await import('./images/workload-images.js');
        const built = await buildWorkloadImages(await docker(ctx), { force: options.force === true, log: ctx.log, install: { noInstall: ctx.config.noInstall, log: ctx.log } });
        return built.map((b) => `${b.name}  ${b.built ? `built in ${b.ms} ms` : 'present'}  ${b.id.slice(7, 19)}`).join('\n');
      },
    },
    {
      name: 'cleanup',
      description: 'remove the managed containers (of one workflow, or all)',
      arguments: ['[workflow]'],
      async run([workflow], _options, ctx) {
        const { removeManagedContainers } = await import('./managed-containers.js');
        const r = await removeManagedContainers(await docker(ctx), { workflow });
        const lines = [`removed ${r.removed.length} managed container(s)${workflow ? ` of ${workflow}` : ''}`];
        if (r.keptProtected.length) lines.push(`kept ${r.keptProtected.length} protected container(s)`);
        for (const f of r.failed) lines.push(`failed to remove ${f.id.slice(0, 12)}: ${f.error}`);
        return lines.join('\n');
      },
    },
  ],
  startOptions: [
    { flags: '--keep-containers', description: 'leave managed containers running on shutdown', env: { TIDEFLOW_KEEP_CONTAINERS: '1' } },
  ],
};

export default spawnerCli;
