import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../util/project-root.js';
import { workflowJsonSchema } from './workflow-schema.js';

export const SCHEMA_FILE = path.join(PROJECT_ROOT, 'workflows/workflow.schema.json');

export function renderWorkflowSchema(): string {
  return JSON.stringify(workflowJsonSchema(), null, 2) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  writeFileSync(SCHEMA_FILE, renderWorkflowSchema());
  console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
}
