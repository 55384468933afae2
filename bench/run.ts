import { runContainersBench } from './containers.bench.js';
import { runEngineBench } from './engine.bench.js';
import { runFootprintBench } from './footprint.bench.js';
import { runLoggerChartsBench } from './logger-charts.bench.js';
import { printTable, writeResults } from './report.js';

// `npm run bench`: every benchmark of the project, side by side with its
// baseline. BENCH_ONLY=engine,containers,logger-charts,footprint picks parts.
const parts: Record<string, () => Promise<void>> = {
  engine: runEngineBench,
  containers: runContainersBench,
  'logger-charts': runLoggerChartsBench,
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
