import { runCliBench } from './cli.bench.js';
import { runContainersBench } from './containers.bench.js';
import { runEngineBench } from './engine.bench.js';
import { runFootprintBench } from './footprint.bench.js';
import { runLoggerChartsBench } from './logger-charts.bench.js';
import { runRecordStoreBench } from './record-store.bench.js';
import { runScaleOutBench } from './scale-out.bench.js';
import { printTable, writeResults } from './report.js';

// `npm run bench`: every benchmark of the project, side by side with its
// baseline. BENCH_ONLY=engine,scale-out,containers,logger-charts,record-store,cli,footprint picks parts.
const parts: Record<string, () => Promise<void>> = {
  engine: runEngineBench,
  'scale-out': runScaleOutBench,
  containers: runContainersBench,
  'logger-charts': runLoggerChartsBench,
  'record-store': runRecordStoreBench,
  cli: runCliBench,
  footprint: runFootprintBench,
};
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
for (const [name, run] of Object.entries(parts)) {
  if (only && !only.includes(name)) continue;
  await run();
}
printTable();
writeResults();
process.exit(0);
