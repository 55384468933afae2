import { runLoggerChartsBench } from './logger-charts.bench.js';
import { printTable } from './report.js';

// Runs only the logger and charts part: npx tsx bench/logger-charts.main.ts
await runLoggerChartsBench();
printTable();
