import { Type } from '@sinclair/typebox';
import type Docker from 'dockerode';
import { parseEnvSettings } from '../../../core/config/env-settings.js';
import type { ServiceProvider } from '../../../core/plugin/service-provider.js';
import { errorMessage } from '../../../core/util/error-message.js';
import { SharedTokens } from '../tokens.js';

export const DockerSettingsSchema = Type.Object({
  /** unix:///path/to.sock or tcp://host:port; unset: /var/run/docker.sock. */
  DOCKER_HOST: Type.Optional(Type.String({ pattern: '^(unix|tcp|http|https)://' })),
});

/**
 * The Docker engine the container plugins drive: SharedTokens.Docker, the
 * `docker` health check, and at engine start a Docker engine that answers
 * (dockerd started, or installed as root, when none does: docker-engine.ts).
 */
export const dockerService: ServiceProvider = {
  name: 'docker',
  async register({ container, config, env }) {
    const { DOCKER_HOST: dockerHost } = parseEnvSettings(DockerSettingsSchema, env);
    // Imported here, not at the top: this module is loaded with the manifests (tideflow validate), dockerode is not.
    const [{ instanceCachingFactory }, { createDockerClient, ensureDockerEngine }] = await Promise.all([import('tsyringe'), import('./docker-engine.js')]);
    let client: Docker | undefined;
    const docker = () => (client ??= createDockerClient(dockerHost));
    container.register(SharedTokens.Docker, { useFactory: instanceCachingFactory(docker) });
    return {
      async start(progress) {
        client = (await ensureDockerEngine({ dockerHost, logDir: config.dataDir, noInstall: config.noInstall, log: progress })).docker;
      },
      healthChecks: {
        docker: async () => {
          try {
            await docker().ping();
          } catch (err) {
            return { status: 'down', reason: `Docker engine does not answer: ${errorMessage(err)}` };
          }
          return { status: 'up' };
        },
      },
    };
  },
};
