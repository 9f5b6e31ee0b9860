// Writes docs/errors.md from the error catalogue: node --import tsx scripts/gen-error-docs.ts
import { writeFileSync } from 'node:fs';
import { CATALOGUE } from '../src/errors/catalogue.ts';

export function renderErrorDocs(): string {
  const lines = [
    '# Error codes',
    '',
    'Generated from `src/errors/catalogue.ts` by `scripts/gen-error-docs.ts`; do not edit by hand.',
    'A code never changes meaning. The kind decides the HTTP status (docs/api.md) and the CLI exits 125.',
    '',
    '| code | kind | meaning | default hint |',
    '|---|---|---|---|',
  ];
  for (const [code, e] of Object.entries(CATALOGUE)) {
    const hint = 'hint' in e ? (e.hint as string) : '';
    lines.push(`| \`${code}\` | ${e.kind} | ${e.doc} | ${hint.replace(/\|/g, '\\|')} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1]?.endsWith('gen-error-docs.ts')) {
  writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorDocs());
}
