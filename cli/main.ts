import 'reflect-metadata';
import { Command } from 'commander';
import { MissingDependencyError } from '../core/services/system-installer.js';
import { configFromFlags, type StartFlags } from './commands/start-command.js';

// Each verb imports only what it uses, when it runs: `tideflow status` never
// loads the HTTP server, Docker or chart code (start-up time is in `npm run bench`).
const containerCommands = () => import('./commands/container-commands.js');
const controlCommands = () => import('./commands/control-commands.js');
const startCommand = () => import('./commands/start-command.js');
const validateCommands = () => import('./commands/validate-command.js');

const program = new Command('tideflow')
  .description('Plugin-based automation workflow engine on BullMQ/Redis')
  .showHelpAfterError()
  .option('--data-dir <dir>', 'data folder (TIDEFLOW_DATA_DIR, default ./data)');

const dataDir = () => program.opts<{ dataDir?: string }>().dataDir;
const config = () => configFromFlags({ dataDir: dataDir() });

/** Runs a command that prints a result, mapping errors to a message and exit code 1. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<string | number | void>) {
  return async (...args: A) => {
    try {
      const r = await fn(...args);
      if (typeof r === 'string') console.log(r);
      if (typeof r === 'number') process.exitCode = r;
    } catch (err) {
      console.error(`tideflow: ${err instanceof MissingDependencyError ? err.message : (err as Error).message}`);
      process.exitCode = 1;
    }
  };
}

/** commander's way to take an option several times. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

program
  .command('start')
  .description('run the engine: API, schedules and workers for the workflows folder')
  .option('--workflows <dir>', 'workflow folder (TIDEFLOW_WORKFLOWS, default ./workflows)')
  .option('--port <n>', 'admin API port (PORT, default 3000)')
  .option('--host <host>', 'admin API host (HOST, default 127.0.0.1)')
  .option('--keep-containers', 'leave managed containers running on shutdown')
  .option('--serve <route>', 'also serve this route (repeatable; TIDEFLOW_SERVE)', collect, [])
  .action(action(async (flags: StartFlags) => (await startCommand()).runEngine('all', { ...flags, dataDir: dataDir() })));

program
  .command('worker')
  .description('only run jobs, joining an engine through REDIS_URL (scale-out)')
  .option('--serve <route>', 'serve this route instead of the default one (repeatable; TIDEFLOW_SERVE)', collect, [])
  .action(action(async (flags: Pick<StartFlags, 'serve'>) => (await startCommand()).runEngine('worker', { ...flags, dataDir: dataDir() })));

program
  .command('validate')
  .description('check workflow files (or folders); prints <file>: <pointer>: <message> per error')
  .argument('<files...>')
  .action(action(async (files: string[]) => (await validateCommands()).validateCommand(files)));

program
  .command('trigger')
  .description('run a job now, even when paused')
  .argument('<workflow/job>')
  .option('--input <json>', 'input handed to the plugin')
  .action(action(async (target: string, o: { input?: string }) => (await controlCommands()).triggerCommand(config(), target, o.input)));

program
  .command('pause')
  .description('pause a job, a workflow, or (no argument) everything')
  .argument('[workflow[/job]]')
  .action(action(async (target?: string) => (await controlCommands()).pauseCommand(config(), target, 'pause')));

program
  .command('resume')
  .description('resume a job, a workflow, or (no argument) everything')
  .argument('[workflow[/job]]')
  .action(action(async (target?: string) => (await controlCommands()).pauseCommand(config(), target, 'resume')));

program
  .command('status')
  .description('jobs with state, next and last run')
  .option('--json', 'machine-readable output')
  .action(action(async (o: { json?: boolean }) => (await controlCommands()).statusCommand(config(), o.json === true)));

program
  .command('images')
  .description('workload images')
  .command('build')
  .description('build the 4 workload images locally (no registry needed)')
  .option('--force', 'rebuild even if present')
  .action(action(async (o: { force?: boolean }) => (await containerCommands()).imagesBuildCommand(config(), o.force === true)));

program
  .command('cleanup')
  .description('remove the managed containers (of one workflow, or all)')
  .argument('[workflow]')
  .action(action(async (wf?: string) => (await containerCommands()).cleanupCommand(config(), wf)));

await program.parseAsync(process.argv);
