import { runEngineBench } from './engine.bench.js';
import { printTable } from './report.js';

// Runs only the engine part: npx tsx bench/engine.main.ts
await runEngineBench();
printTable();
