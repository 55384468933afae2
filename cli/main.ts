import 'reflect-metadata';
import { Command } from 'commander';
import { MissingDependencyError } from '../core/services/system-installer.js';
import type { PluginCli, PluginCommand } from '../core/plugin/plugin-cli.js';
import { BUILTIN_PLUGINS } from './builtin-plugins.js';
import type { StartFlags } from './commands/start-command.js';
import type { RunsFlags } from './commands/control-commands.js';

// Each verb imports only what it uses, when it runs: `tideflow status` never
// loads the HTTP server, Docker or chart code (start-up time is in `npm run bench`).
// The plugins' CLI declarations are light modules, read on every call.
const pluginClis: PluginCli[] = (await Promise.all(BUILTIN_PLUGINS.map(async (p) => (p.cli ? (await p.cli()).default : undefined)))).filter((c) => c !== undefined);
const startOptions = pluginClis.flatMap((c) => c.startOptions ?? []);
const controlCommands = () => import('./commands/control-commands.js');
const startCommand = () => import('./commands/start-command.js');
const validateCommands = () => import('./commands/validate-command.js');

const program = new Command('tideflow')
  .description('Plugin-based automation workflow engine on BullMQ/Redis')
  .showHelpAfterError()
  .option('--data-dir <dir>', 'data folder (TIDEFLOW_DATA_DIR, default ./data)');

const dataDir = () => program.opts<{ dataDir?: string }>().dataDir;
/** The configuration from the environment and --data-dir (loaded only by the verbs that need it: --help stays fast). */
const config = async () => (await startCommand()).configFromFlags({ dataDir: dataDir() });

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

/** commander's attribute name of a flag: `--keep-containers` -> keepContainers. */
function optionKey(flags: string): string {
  return (flags.match(/--([a-z0-9-]+)/)?.[1] ?? '').replace(/-([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
}

/** A plugin's verb; a nested one (`images build`) under its group command, made once. */
function addPluginCommand(c: PluginCommand): void {
  const words = c.name.split(' ');
  let parent: Command = program;
  for (const w of words.slice(0, -1)) parent = parent.commands.find((x) => x.name() === w) ?? parent.command(w).description(`${w} commands`);
  const cmd = parent.command(words.at(-1)!).description(c.description);
  for (const a of c.arguments ?? []) cmd.argument(a);
  for (const o of c.options ?? []) cmd.option(o.flags, o.description);
  cmd.action(
    action(async (...args: unknown[]) => {
      const positional = args.slice(0, c.arguments?.length ?? 0) as Array<string | undefined>;
      const options = (args[c.arguments?.length ?? 0] ?? {}) as Record<string, unknown>;
      return c.run(positional, options, { config: await config(), env: process.env, log: console.log });
    }),
  );
}

/** commander's way to take an option several times. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const start = program
  .command('start')
  .description('run the engine: API, schedules and workers for the workflows folder')
  .option('--workflows <dir>', 'workflow folder (TIDEFLOW_WORKFLOWS, default ./workflows)')
  .option('--port <n>', 'admin API port (PORT, default 3000)')
  .option('--host <host>', 'admin API host (HOST, default 127.0.0.1)')
  .option('--serve <route>', 'also serve this route (repeatable; TIDEFLOW_SERVE)', collect, []);
for (const o of startOptions) start.option(o.flags, `${o.description} (${Object.entries(o.env).map(([k, v]) => `${k}=${v}`).join(' ')})`);
start.action(
  action(async (flags: StartFlags & Record<string, unknown>) => {
    // A plugin's start flag sets the environment settings it stands for.
    const env = Object.assign({}, ...startOptions.filter((o) => flags[optionKey(o.flags)] === true).map((o) => o.env)) as Record<string, string>;
    return (await startCommand()).runEngine('all', { ...flags, dataDir: dataDir(), env });
  }),
);

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
  .action(action(async (target: string, o: { input?: string }) => (await controlCommands()).triggerCommand(await config(), target, o.input)));

program
  .command('cancel')
  .description('cancel a run: a queued one is removed, a running one is aborted; its successors never start')
  .argument('<run id>')
  .action(action(async (runId: string) => (await controlCommands()).cancelCommand(await config(), runId)));

program
  .command('pause')
  .description('pause a job, a workflow, or (no argument) everything')
  .argument('[workflow[/job]]')
  .action(action(async (target?: string) => (await controlCommands()).pauseCommand(await config(), target, 'pause')));

program
  .command('resume')
  .description('resume a job, a workflow, or (no argument) everything')
  .argument('[workflow[/job]]')
  .action(action(async (target?: string) => (await controlCommands()).pauseCommand(await config(), target, 'resume')));

program
  .command('runs')
  .description('the newest runs: id, job, trigger, status, attempts, duration, host, error')
  .option('--job <workflow[/job]>', 'only this workflow or job')
  .option('--status <status>', 'only runs in this status (queued, running, retrying, succeeded, failed, skipped, cancelled)')
  .option('--host <host>', 'only runs whose latest attempt ran on this host')
  .option('--limit <n>', 'how many (1..1000, default 20)')
  .option('--json', 'machine-readable output')
  .action(action(async (o: RunsFlags) => (await controlCommands()).runsCommand(await config(), o)));

program
  .command('logs')
  .description("what a run's plugin logged (every attempt; the newest 500 lines are kept with the run)")
  .argument('<run id>')
  .option('--json', 'machine-readable output')
  .action(action(async (runId: string, o: { json?: boolean }) => (await controlCommands()).logsCommand(await config(), runId, o.json === true)));

program
  .command('status')
  .description('jobs with state, next and last run')
  .option('--json', 'machine-readable output')
  .action(action(async (o: { json?: boolean }) => (await controlCommands()).statusCommand(await config(), o.json === true)));

for (const c of pluginClis.flatMap((cli) => cli.commands ?? [])) addPluginCommand(c);

await program.parseAsync(process.argv);
