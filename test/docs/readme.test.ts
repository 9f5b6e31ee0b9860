/**
 * The README stays true: every command of its tour is a registered verb, every flag it shows is
 * an option of that verb, and every document it or docs/architecture.md names exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { COMMAND_MODULES } from '../../src/cli/commands/index.ts';
import { createContext } from '../../src/cli/context.ts';

const PROJECT = resolve(import.meta.dirname, '../..');
const readme = readFileSync(join(PROJECT, 'README.md'), 'utf8');

function tourLines(): string[] {
  const tour = readme.slice(readme.indexOf('## A tour'), readme.indexOf('## Development'));
  const block = tour.slice(tour.indexOf('```sh') + 5, tour.lastIndexOf('```'));
  return block
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .flatMap((l) => l.split(/ ; | \| (?=brig )/))
    .map((l) => l.trim())
    .filter((l) => l.startsWith('brig '));
}

function findCommand(c: Command, name: string): Command | undefined {
  return c.commands.find((x) => x.name() === name || x.aliases().includes(name));
}

function hasOption(c: Command, flag: string): boolean {
  return c.options.some((o) => o.long === flag || o.short === flag);
}

test('every command and flag of the README tour exists', () => {
  const program = new Command('brig').enablePositionalOptions();
  for (const m of COMMAND_MODULES) m.register(program, createContext(program));
  const lines = tourLines();
  assert.ok(lines.length > 15, `${lines.length} tour lines`);
  const problems: string[] = [];
  let checked = 0;
  for (const line of lines) {
    const words = line.split(/\s+/).slice(1);
    const verbs = words[0]!.split('|');
    for (const verb of verbs) {
      let cmd = findCommand(program, verb);
      if (!cmd) {
        problems.push(`${line}: no verb ${verb}`);
        continue;
      }
      const targets: Command[] = [];
      if (cmd.commands.length > 0 && words[1] && /^[a-z|]+$/.test(words[1])) {
        for (const sub of words[1].split('|')) {
          const s = findCommand(cmd, sub);
          if (s) targets.push(s);
          else problems.push(`${line}: no ${verb} ${sub}`);
        }
      } else {
        targets.push(cmd);
      }
      for (const target of targets) {
        cmd = target;
        for (const w of words) {
          const m = /^\[?(--?[a-z][a-z-]*)/.exec(w);
          if (!m) continue;
          // -it is -i -t
          const flags = /^-[a-z]{2,}$/.test(m[1]!) ? [...m[1]!.slice(1)].map((c) => `-${c}`) : [m[1]!];
          for (const f of flags) {
            checked++;
            if (!hasOption(cmd, f)) problems.push(`${line}: ${cmd.name()} has no ${f}`);
          }
        }
      }
    }
  }
  assert.ok(checked > 10, `${checked} flags checked`);
  assert.deepEqual(problems, []);
});

test('every document the README and docs/architecture.md name exists', () => {
  const arch = readFileSync(join(PROJECT, 'docs/architecture.md'), 'utf8');
  const named = new Set<string>();
  for (const m of readme.matchAll(/\bdocs\/([\w-]+\.md)\b/g)) named.add(m[1]!);
  // a bare name is a file in docs/; a name with a folder (bench/README.md) is relative to the project
  for (const m of arch.matchAll(/(?<![\w/.-])((?:[\w-]+\/)*[\w-]+\.md)\b/g)) named.add(m[1]!);
  assert.ok(named.has('api.md'));
  const missing = [...named].filter((n) => !existsSync(join(PROJECT, n.includes('/') ? '' : 'docs', n)));
  assert.deepEqual(missing, []);
});
