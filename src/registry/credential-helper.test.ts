import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { type CommandResult, type CommandRunner, hostRunner, type RunOptions } from '../platform/exec.ts';
import {
  CredentialHelper,
  helperMessage,
  isNotFoundMessage,
  parseGetOutput,
  parseListOutput,
  serverUrlOf,
  storeInput,
  validHelperName,
} from './credential-helper.ts';

test('parseGetOutput: user and secret, <token> is an identity token, empty answers are none', () => {
  assert.deepEqual(parseGetOutput('{"ServerURL":"r","Username":"u","Secret":"p"}'), {
    username: 'u',
    password: 'p',
  });
  // docker's helpers escape < and > in JSON
  assert.deepEqual(parseGetOutput('{"ServerURL":"r","Username":"\\u003ctoken\\u003e","Secret":"rt"}'), {
    username: '<token>',
    password: '',
    identityToken: 'rt',
  });
  assert.equal(parseGetOutput('{"ServerURL":"r","Username":"","Secret":""}'), undefined);
  assert.equal(parseGetOutput('{"ServerURL":"r","Username":"u","Secret":""}'), undefined);
  assert.equal(parseGetOutput('{"ServerURL":"r","Username":"","Secret":"s"}'), undefined);
  assert.equal(parseGetOutput('not json'), undefined);
  assert.equal(parseGetOutput('[]'), undefined);
  assert.equal(parseGetOutput('null'), undefined);
});

test('storeInput: docker’s JSON; an identity token travels as <token>', () => {
  assert.deepEqual(JSON.parse(storeInput('h:5000', { username: 'u', password: 'p' })), {
    ServerURL: 'h:5000',
    Username: 'u',
    Secret: 'p',
  });
  assert.deepEqual(
    JSON.parse(
      storeInput('https://index.docker.io/v1/', { username: 'x', password: '', identityToken: 't' }),
    ),
    { ServerURL: 'https://index.docker.io/v1/', Username: '<token>', Secret: 't' },
  );
});

test('parseListOutput, serverUrlOf, isNotFoundMessage, validHelperName', () => {
  assert.deepEqual(parseListOutput('{"a":"u","b":"\\u003ctoken\\u003e","c":3}'), { a: 'u', b: '<token>' });
  assert.deepEqual(parseListOutput('oops'), {});
  assert.deepEqual(parseListOutput('["a"]'), {});
  assert.equal(serverUrlOf('docker.io'), 'https://index.docker.io/v1/');
  assert.equal(serverUrlOf('reg.example:5000'), 'reg.example:5000');
  assert.ok(isNotFoundMessage('credentials not found in native keychain\n'));
  assert.ok(!isNotFoundMessage('no credentials server URL'));
  for (const ok of ['pass', 'secretservice', 'ecr-login', 'gcloud', 'acr-env', 'x.y_z+1'])
    assert.ok(validHelperName(ok), ok);
  for (const bad of ['', '../bin/sh', '/bin/sh', 'a b', '-x', 'a/b', 'x'.repeat(65)])
    assert.ok(!validHelperName(bad), bad);
});

test('helperMessage cuts every form of the secret out and shortens', () => {
  const secret = 'pa"ss\\word';
  const m = helperMessage(
    `failed: ${secret} ${JSON.stringify(secret)} ${Buffer.from(secret).toString('base64')}\n\nmore`,
    [secret],
  );
  assert.ok(
    !m.includes(secret) && !m.includes('pa\\"ss') && !m.includes(Buffer.from(secret).toString('base64')),
  );
  assert.match(m, /^failed: \*\*\* "\*\*\*" \*\*\* more$/);
  assert.equal(helperMessage('x'.repeat(1000), []).length, 301);
});

interface Call {
  cmd: string;
  args: readonly string[];
  input: string | undefined;
}

function runner(answer: (action: string, input: string) => Partial<CommandResult>): CommandRunner & {
  calls: Call[];
} {
  const calls: Call[] = [];
  return {
    calls,
    async run(cmd: string, args: readonly string[], opts: RunOptions = {}) {
      const input = opts.input === undefined ? undefined : opts.input.toString();
      calls.push({ cmd, args, input });
      assert.equal(opts.check, false);
      const a = answer(args[0] ?? '', input ?? '');
      return {
        code: a.code ?? 0,
        signal: a.signal ?? null,
        stdout: a.stdout ?? Buffer.alloc(0),
        stderr: a.stderr ?? Buffer.alloc(0),
      };
    },
  };
}

test('CredentialHelper speaks the protocol: action as the only argument, data on stdin', async () => {
  const r = runner((action, input) => {
    if (action === 'get' && input === 'h:1')
      return { stdout: Buffer.from('{"ServerURL":"h:1","Username":"u","Secret":"s"}\n') };
    if (action === 'get')
      return { code: 1, stdout: Buffer.from('credentials not found in native keychain\n') };
    if (action === 'list') return { stdout: Buffer.from('{"h:1":"u"}') };
    return {};
  });
  const h = new CredentialHelper('pass', r);
  assert.deepEqual(await h.get('h:1'), { username: 'u', password: 's' });
  assert.equal(await h.get('h:2'), undefined);
  await h.store('docker.io', { username: 'u', password: 'top-secret' });
  assert.equal(await h.erase('h:1'), true);
  assert.deepEqual(await h.list(), { 'h:1': 'u' });
  assert.deepEqual(
    r.calls.map((c) => [c.cmd, ...c.args]),
    [
      ['docker-credential-pass', 'get'],
      ['docker-credential-pass', 'get'],
      ['docker-credential-pass', 'store'],
      ['docker-credential-pass', 'erase'],
      ['docker-credential-pass', 'list'],
    ],
  );
  assert.equal(r.calls[0]!.input, 'h:1');
  assert.deepEqual(JSON.parse(r.calls[2]!.input!), {
    ServerURL: 'https://index.docker.io/v1/',
    Username: 'u',
    Secret: 'top-secret',
  });
  assert.equal(r.calls[4]!.input, undefined);
});

test('CredentialHelper failures: coded, naming the helper, never quoting a secret', async () => {
  const secret = 'S3cret-in-store';
  const echoing = new CredentialHelper(
    'leaky',
    runner((action, input) =>
      action === 'store'
        ? { code: 1, stdout: Buffer.from(`cannot store ${input}`) }
        : { stdout: Buffer.from(`garbage ${secret}`) },
    ),
  );
  await assert.rejects(echoing.store('h:1', { username: 'u', password: secret }), (e) => {
    assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER'));
    assert.match(e.message, /docker-credential-leaky store for h:1 exited with status 1: cannot store/);
    assert.ok(!JSON.stringify(e).includes(secret) && !e.message.includes(secret));
    assert.deepEqual(e.details, {
      helper: 'docker-credential-leaky',
      action: 'store',
      registry: 'h:1',
      status: 1,
    });
    return true;
  });
  // exit 0 but no JSON: an error that does not quote the output
  await assert.rejects(echoing.get('h:1'), (e) => {
    assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER'));
    assert.ok(!e.message.includes(secret));
    return true;
  });
  // killed; stderr used when stdout is empty
  const killed = new CredentialHelper(
    'k',
    runner(() => ({ code: -1, signal: 'SIGKILL', stderr: Buffer.from('locked keyring') })),
  );
  await assert.rejects(
    killed.get('h'),
    (e) => isBrigError(e, 'ERR_CREDENTIAL_HELPER') && /SIGKILL: locked keyring/.test(e.message),
  );
  // credential JSON printed by a failing helper is never quoted
  const half = new CredentialHelper(
    'half',
    runner(() => ({ code: 2, stdout: Buffer.from(`{"ServerURL":"h","Username":"u","Secret":"${secret}"}`) })),
  );
  await assert.rejects(half.get('h'), (e) => {
    assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER'));
    assert.ok(!JSON.stringify(e).includes(secret) && !e.message.includes(secret));
    return true;
  });
  // not installed
  const missing: CommandRunner = {
    run: async () => {
      const { BrigError } = await import('../errors/errors.ts');
      throw new BrigError('ERR_COMMAND_NOT_FOUND', 'docker-credential-nope is not installed');
    },
  };
  await assert.rejects(new CredentialHelper('nope', missing).get('h'), (e) => {
    assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER_NOT_FOUND'));
    assert.match(e.hint ?? '', /docker-credential-nope/);
    return true;
  });
  // a name that would be a path is refused before anything runs
  const r = runner(() => ({}));
  assert.throws(
    () => new CredentialHelper('../../bin/sh', r),
    (e) => isBrigError(e, 'ERR_CREDENTIALS'),
  );
  assert.equal(r.calls.length, 0);
});

test('a helper that does not answer is stopped after the timeout: ERR_CREDENTIAL_HELPER with a hint', async (t) => {
  // a real program that waits as a helper asking for a passphrase would (brigd has no terminal);
  // the waiting is done by its child, which holds the output pipe too
  const dir = tempDir(t);
  writeFileSync(join(dir, 'docker-credential-stuck'), '#!/bin/sh\nsleep 600\n');
  chmodSync(join(dir, 'docker-credential-stuck'), 0o755);
  const inDir: CommandRunner = { run: (cmd, args, o) => hostRunner.run(join(dir, cmd), args, o) };
  const h = new CredentialHelper('stuck', inDir, { timeoutMs: 100 });
  await assert.rejects(h.get('h:1'), (e) => {
    assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER'));
    assert.match(e.message, /did not answer within 0\.1 s/);
    assert.match(e.hint ?? '', /passphrase|keyring/);
    assert.equal((e.details as { timeoutMs?: number }).timeoutMs, 100);
    return true;
  });
});
