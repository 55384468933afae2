// Preloaded (node --import) into each CLI process the CLI bench starts: at
// exit, appends the process's CPU time (user + system, ms) to
// $BENCH_CPU_FILE. CPU time, unlike wall time, barely depends on how busy the
// machine is.
import { appendFileSync } from 'node:fs';

const file = process.env.BENCH_CPU_FILE;
if (file) {
  process.on('exit', () => {
    const { user, system } = process.cpuUsage();
    appendFileSync(file, `${(user + system) / 1000}\n`);
  });
}
