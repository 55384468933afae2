/** A workflow after loading: validated, defaults applied, durations in ms. */
export interface LoadedJob {
  name: string;
  plugin: string;
  trigger: {
    everyMs?: number;
    every?: string;
    cron?: string;
    timezone?: string;
    manual: boolean;
  };
  /** The plugin config, validated, with the plugin schema's defaults applied. */
  config: unknown;
  retry: { attempts: number; backoff: 'fixed' | 'exponential'; delayMs: number };
  timeoutMs?: number;
  then: string[];
  /** Jobs whose `then` names this one. */
  predecessors: string[];
}

export interface LoadedWorkflow {
  name: string;
  /** Path of the file it came from, as given to the loader. */
  file: string;
  description?: string;
  jobs: Record<string, LoadedJob>;
}

export function isScheduled(job: LoadedJob): boolean {
  return job.trigger.everyMs !== undefined || job.trigger.cron !== undefined;
}
