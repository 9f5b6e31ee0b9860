import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commanderProgram, hostOf } from '../../../test/support/cli.ts';
import * as runCommand from './run.ts';
import { parseRun } from './run-fast.ts';

/** What commander (the program's setup, the run command's flags) makes of the arguments. */
async function viaCommander(args: string[]) {
  const program = commanderProgram([runCommand]);
  let got: unknown;
  const run = program.commands.find((c) => c.name() === 'run')!;
  run.exitOverride().action((image: string, command: string[], o: Record<string, unknown>) => {
    got = { ...hostOf(program), image, command, flags: { ...o } };
  });
  await program.parseAsync(['node', 'brig', ...args]);
  return got;
}

const ACCEPTED: string[][] = [
  ['run', 'busybox'],
  ['run', '--rm', 'busybox', '/bin/true'],
  ['-H', 'unix:///x.sock', 'run', '--rm', 'busybox', 'sh', '-c', 'echo hi; exit 3'],
  ['--host=unix:///y', 'run', 'busybox'],
  ['run', '-it', '--rm', 'busybox', 'sh'],
  ['run', '-dit', 'busybox'],
  ['run', '-d', '--name', 'web', '--restart', 'always', 'busybox', 'sleep', '100'],
  ['run', '--name=web', '-e', 'A=1', '--env', 'B', '-e', 'C=3', 'busybox', 'env'],
  ['run', '-v', '/a:/b:ro', '--volume', 'v:/c', '--mount', 'type=tmpfs,dst=/t', '--tmpfs', '/x', 'busybox'],
  ['run', '-l', 'a=b', '--label=c=d', '--grant', 'dev', '--grant=cap', 'busybox'],
  ['run', '-w', '/tmp', '-u', 'nobody', '--entrypoint', 'sh', '--hostname', 'h', 'busybox'],
  ['run', '-m', '512m', '--cpus', '1.5', '--pids-limit', '10', '--read-only', 'busybox'],
  ['run', '--stop-signal', 'SIGINT', '--stop-timeout', '3', '--env-file', '/e', 'busybox'],
  ['run', '--dry-run', '--json', 'busybox', 'ls', '-l', '--all'],
  ['run', '-i', '-t', '--interactive', '--tty', 'busybox', '--rm', '-e', 'X'],
  ['run', '--name', 'a', '--name', 'b', 'busybox'],
];

for (const args of ACCEPTED) {
  test(`run fast path = commander: ${args.join(' ')}`, async () => {
    const fast = parseRun(args);
    assert.ok(fast, 'accepted');
    assert.deepEqual(JSON.parse(JSON.stringify(fast)), JSON.parse(JSON.stringify(await viaCommander(args))));
  });
}

test('run fast path declines what it does not know (commander then parses)', () => {
  for (const args of [
    ['run'],
    ['run', '--help'],
    ['run', '-h', 'busybox'],
    ['run', '--no-such', 'busybox'],
    ['run', '-eA=1', 'busybox'],
    ['run', '--', 'busybox'],
    ['run', '--name', '-x', 'busybox'],
    ['run', '--rm=1', 'busybox'],
    ['run', '-ix', 'busybox'],
    ['run', '-H', 'unix:///x', 'busybox'],
    ['--version', 'run', 'busybox'],
    ['ps'],
    ['-H', 'unix:///x'],
  ]) {
    assert.equal(parseRun(args), undefined, args.join(' '));
  }
});
