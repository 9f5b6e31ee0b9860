/**
 * Every listing accepts --json (design §7). The verbs are found by walking the registered
 * commands, so a listing added later (or one that loses the flag) is caught: `ls`/`list`,
 * `images`, `ps`, and `stats`/`top`, which list rows too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { COMMAND_MODULES } from './commands/index.ts';
import { createContext } from './context.ts';

const LISTING = /^(ls|list|images|ps|stats|top)$/;

function walk(c: Command, path: string[], out: Array<{ path: string; command: Command }>): void {
  for (const sub of c.commands) {
    const p = [...path, sub.name()];
    if (LISTING.test(sub.name()) || sub.aliases().some((a) => LISTING.test(a))) {
      out.push({ path: p.join(' '), command: sub });
    }
    walk(sub, p, out);
  }
}

test('every listing command takes --json', () => {
  const program = new Command('brig').enablePositionalOptions();
  const ctx = createContext(program);
  for (const m of COMMAND_MODULES) m.register(program, ctx);
  const listings: Array<{ path: string; command: Command }> = [];
  walk(program, [], listings);
  const paths = listings.map((l) => l.path);
  for (const known of ['images', 'image ls', 'volume ls', 'devfs ls'])
    assert.ok(paths.includes(known), known);
  const without = listings
    .filter((l) => !l.command.options.some((o) => o.long === '--json'))
    .map((l) => l.path);
  assert.deepEqual(without, []);
});
