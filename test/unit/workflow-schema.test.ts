import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { SCHEMA_FILE, renderWorkflowSchema } from '../../core/workflow/write-schema.js';

describe('workflows/workflow.schema.json', () => {
  it('is exactly what the code generates (run `npm run schema` after changing the format)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(renderWorkflowSchema());
  });

  it('accepts the built-in workflow and rejects a misspelt key, for editors', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')));
    const builtin = JSON.parse(readFileSync('workflows/container-lifecycle.json', 'utf8'));
    expect(validate(builtin), JSON.stringify(validate.errors)).toBe(true);
    builtin.jobs.spawn.evry = '1m';
    expect(validate(builtin)).toBe(false);
  });
});
