/**
 * docs/api.md documents every route: each route file is registered on a Router (with a stand-in
 * for the services, which registration does not call) and every `METHOD /path` must appear in
 * the document (`UPGRADE /path` for hijacked routes).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Services } from '../daemon/services.ts';
import { Router } from './router.ts';
import { ROUTE_MODULES } from './routes/index.ts';

/** Any property, any depth, callable: registration may read services but does not run them. */
function standIn(): unknown {
  const f = () => standIn();
  return new Proxy(f, { get: (_t, k) => (k === Symbol.toPrimitive ? () => '' : standIn()) });
}

test('docs/api.md lists every route the daemon serves', () => {
  const r = new Router();
  for (const m of ROUTE_MODULES) m.register(r, standIn() as Services);
  const specs = [...r.routes, ...r.upgrades].map((x) => x.spec);
  assert.ok(specs.includes('GET /images'), 'the images routes are registered');
  assert.ok(specs.length > 30, `${specs.length} routes`);
  const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const missing = specs.filter((s) => !doc.includes(`\`${s}\``) && !doc.includes(`\`${s} `));
  assert.deepEqual(missing, []);
});
