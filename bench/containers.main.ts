import { runContainersBench } from './containers.bench.js';
import { printTable } from './report.js';

// Runs only the containers part: npx tsx bench/containers.main.ts
await runContainersBench();
printTable();
