import type { PluginManifest } from '../../core/plugin/plugin.js';
import { dockerService } from '../shared/containers/docker-service.js';
import { AnalyzerConfigSchema } from './analyzer-config.js';
import { ANALYSIS_DURATION, CONTAINERS_KILLED, KILL_ERRORS } from './analyzer-metrics.js';

/** What the engine knows of the analyzer without loading it (light: tideflow validate reads only this). */
const analyzerManifest = {
    name: 'analyzer',
    version: '1.0.0',
    description: 'Keeps the 2 highest high-class and 3 lowest low-class containers, kills the rest',
    configSchema: AnalyzerConfigSchema,
    services: [dockerService],
  counters: [CONTAINERS_KILLED, KILL_ERRORS],
  histograms: [ANALYSIS_DURATION],
} satisfies PluginManifest;

export default analyzerManifest;
