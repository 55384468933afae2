import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../cli/commands/control-commands.js';
import type { JobStatus, WorkflowStatus } from '../../core/control/engine-control.js';

const job = (over: Partial<JobStatus>): JobStatus => ({
  workflow: 'fleet-b', job: 'spawn', plugin: 'spawner', trigger: { every: '1m' }, state: 'active', nextRunAt: null, lastRun: null,
  route: 'default', routeWorkers: 1, then: [], onFailure: [], ...over,
});

describe('tideflow status', () => {
  it('shows each job route and a job whose route no worker serves as waiting, with the command that serves it', () => {
    const wf: WorkflowStatus = {
      name: 'fleet-b', file: 'workflows/fleet-b.json', state: 'active',
      jobs: [
        job({ route: 'host-b', routeWorkers: 0, waiting: 'no live worker serves route "host-b"' }),
        job({ job: 'chart', plugin: 'charts', routeWorkers: 2 }),
        job({ job: 'analyze', plugin: 'analyzer', route: 'host-b', routeWorkers: 0, waiting: 'no live worker serves route "host-b"', state: 'paused', pausedBy: 'job' }),
      ],
    };
    const lines = formatStatus([wf]).split('\n');
    expect(lines[0]).toMatch(/ROUTE$/);
    expect(lines.find((l) => l.startsWith('fleet-b/spawn'))).toMatch(/waiting .*host-b \(0 workers\)$/);
    expect(lines.find((l) => l.startsWith('fleet-b/chart'))).toMatch(/active .*default \(2 workers\)$/);
    // Paused wins over waiting: nothing would run anyway.
    expect(lines.find((l) => l.startsWith('fleet-b/analyze'))).toMatch(/paused /);
    expect(lines.filter((l) => l.includes('tideflow worker --serve host-b'))).toHaveLength(1);
  });
});
