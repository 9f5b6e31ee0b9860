import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBrigError } from '../errors/errors.ts';
import { hostRunner } from './exec.ts';

test('hostRunner: output, exit status, input on stdin; a non-zero exit throws unless check is false', async () => {
  const r = await hostRunner.run('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'in\n', check: false });
  assert.equal(r.code, 3);
  assert.equal(r.stdout.toString(), 'in\n');
  assert.equal(r.stderr.toString(), 'err\n');
  assert.equal(r.timedOut, undefined);
  await assert.rejects(hostRunner.run('sh', ['-c', 'exit 3']), (e) => isBrigError(e, 'ERR_COMMAND_FAILED'));
  await assert.rejects(hostRunner.run('/no/such/program', []), (e) =>
    isBrigError(e, 'ERR_COMMAND_NOT_FOUND'),
  );
});

test('hostRunner: timeoutMs kills a command that does not end; one that ends in time is untouched', async () => {
  const hung = await hostRunner.run('sleep', ['600'], { timeoutMs: 50, check: false });
  assert.equal(hung.timedOut, true);
  assert.equal(hung.signal, 'SIGKILL');
  await assert.rejects(hostRunner.run('sleep', ['600'], { timeoutMs: 50 }), (e) =>
    isBrigError(e, 'ERR_COMMAND_FAILED'),
  );
  // a child of the command that holds the pipes is killed with it (its own process group)
  const tree = await hostRunner.run('sh', ['-c', 'sleep 600; echo never'], { timeoutMs: 50, check: false });
  assert.equal(tree.timedOut, true);
  assert.equal(tree.stdout.toString(), '');
  const quick = await hostRunner.run('true', [], { timeoutMs: 60_000 });
  assert.equal(quick.code, 0);
  assert.equal(quick.timedOut, undefined);
});
