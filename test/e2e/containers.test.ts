/**
 * The built brig and brigd with real containers (root, runc/crun, conmon): run's output and exit
 * status, --rm, detached containers with ps/logs/exec/cp/stop/rm, `run -it` on a real terminal,
 * and `kill -9` of brigd with containers running (one of them dying meanwhile).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BRIG, busyboxDaemon, childEnv, removeAllContainers, type TestDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';

const needs = requires({
  root: true,
  linux: true,
  commands: ['runc', 'conmon', 'umoci', 'busybox', 'script'],
});

const daemon = busyboxDaemon;
const cleanup = removeAllContainers;

function leftovers(d: TestDaemon): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line.includes(join(d.root, 'containers'))) out.push(line.split(' ')[4]!);
  }
  const r = spawnSync('runc', ['--root', join(d.root, 'runtime', 'runc'), 'list', '-q'], {
    encoding: 'utf8',
  });
  out.push(...r.stdout.split('\n').filter(Boolean));
  return out;
}

/**
 * `brig args` in a real terminal (script(1) gives it one: the test's oracle side): waits for
 * `prompt` (up to a minute), types `line`; the exit code and all the terminal showed.
 */
async function inTerminal(d: TestDaemon, args: string[], prompt: RegExp, line: string) {
  const cmd = [process.execPath, BRIG, '--host', `unix://${d.socket}`, ...args]
    .map((a) => `'${a}'`)
    .join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
    env: childEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  const code = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  for (let i = 0; i < 2400 && !prompt.test(out); i++) await new Promise((r) => setTimeout(r, 25));
  child.stdin.write(line);
  return { code: await code, out };
}

describe('containers through the CLI', needs, () => {
  test('run: output, exit status, --rm, brig errors are 125', async (t) => {
    const d = await daemon(t);
    try {
      const r = await d.brig(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, 'out\n');
      assert.equal(r.stderr, 'err\n');
      assert.equal((await d.brig(['ps', '-a', '-q'])).stdout, '');
      assert.deepEqual(leftovers(d), []);
      const piped = await d.brig(['run', '-i', '--rm', 'busybox', 'tr', 'a-z', 'A-Z'], { input: 'hello\n' });
      assert.equal(piped.stdout, 'HELLO\n');
      const bad = await d.brig(['run', '--rm', 'busybox', '/no/such']);
      // a command that is not there: docker's 127 (test/e2e/run-exit-codes.test.ts)
      assert.equal(bad.code, 127, bad.stderr);
      assert.match(bad.stderr, /no such file/);
      assert.equal((await d.brig(['ps', '-a', '-q'])).stdout, '');
      assert.equal((await d.brig(['run', 'nosuchimage'])).code, 125);
      // logs -f follows until the container exits
      const f = await d.brig(['run', '-d', 'busybox', 'sh', '-c', 'echo a; sleep 0.3; echo b; exit 2']);
      const followed = await d.brig(['logs', '-f', f.stdout.trim()]);
      assert.equal(followed.stdout, 'a\nb\n');
      assert.equal((await d.brig(['wait', f.stdout.trim()])).stdout, '2\n');
      await d.brig(['rm', f.stdout.trim()]);
      const env = await d.brig([
        'run',
        '--rm',
        '-e',
        'A=1',
        '-u',
        'nobody',
        '-w',
        '/tmp',
        'busybox',
        'sh',
        '-c',
        'echo $A $(id -u) $PWD',
      ]);
      assert.equal(env.stdout, '1 65534 /tmp\n');
    } finally {
      await cleanup(d);
    }
  });

  test('detached: ps, logs, exec, cp both ways, stop, rm', async (t) => {
    const d = await daemon(t);
    const tmp = mkdtempSync(join(tmpdir(), 'brig-cp-'));
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    try {
      const r = await d.brig([
        'run',
        '-d',
        '--name',
        'svc',
        'busybox',
        'sh',
        '-c',
        'echo one; echo started; sleep 1000',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const id = r.stdout.trim();
      assert.match(id, /^[0-9a-f]{64}$/);
      const ps = JSON.parse((await d.brig(['ps', '--json'])).stdout) as Array<{
        name: string;
        state: string;
        pid: number;
      }>;
      assert.equal(ps.length, 1);
      assert.equal(ps[0]!.state, 'running');
      assert.ok(ps[0]!.pid > 0);
      let logs = await d.brig(['logs', 'svc']);
      for (let i = 0; i < 400 && !logs.stdout.includes('started'); i++) {
        await new Promise((res) => setTimeout(res, 25));
        logs = await d.brig(['logs', 'svc']);
      }
      assert.equal(logs.stdout, 'one\nstarted\n');
      const tail = await d.brig(['logs', '--timestamps', '--tail', '1', 'svc']);
      assert.match(tail.stdout, /^\d{4}-\d\d-\d\dT\S+ started\n$/);
      assert.equal((await d.brig(['logs', '--since', '2099-01-01T00:00:00Z', 'svc'])).stdout, '');
      assert.equal((await d.brig(['ps', '-q', '--filter', 'name=sv'])).stdout, `${id.slice(0, 12)}\n`);
      assert.equal((await d.brig(['ps', '-q', '--filter', 'status=exited'])).stdout, '');
      const ex = await d.brig(['exec', '-e', 'X=7', '-w', '/etc', 'svc', 'sh', '-c', 'echo $X $PWD; exit 5']);
      assert.equal(ex.code, 5, ex.stderr);
      assert.equal(ex.stdout, '7 /etc\n');
      // an exec that cannot start: docker's 127 / 126 and a plain message, not runc's log line
      const missing = await d.brig(['exec', 'svc', '/no/such/cmd']);
      assert.equal(missing.code, 127, missing.stderr);
      assert.match(missing.stderr, /\/no\/such\/cmd: command not found in the container/);
      assert.doesNotMatch(missing.stderr, /level=error/);
      const noDir = await d.brig(['exec', '-w', '/no/such/dir', 'svc', 'true']);
      assert.equal(noDir.code, 126, noDir.stderr);
      assert.match(noDir.stderr, /working directory \/no\/such\/dir does not exist/);
      // the program's own stderr still passes through
      const own = await d.brig(['exec', 'svc', 'sh', '-c', 'echo oops >&2; exit 3']);
      assert.equal(own.code, 3);
      assert.equal(own.stderr, 'oops\n');
      writeFileSync(join(tmp, 'in.txt'), 'into the container\n');
      assert.equal((await d.brig(['cp', join(tmp, 'in.txt'), 'svc:/tmp'])).code, 0);
      assert.equal((await d.brig(['exec', 'svc', 'cat', '/tmp/in.txt'])).stdout, 'into the container\n');
      assert.equal((await d.brig(['cp', 'svc:/etc/passwd', tmp])).code, 0);
      assert.match(readFileSync(join(tmp, 'passwd'), 'utf8'), /^root:/);
      const stop = await d.brig(['stop', '-t', '1', 'svc']);
      assert.equal(stop.code, 0, stop.stderr);
      const after = JSON.parse((await d.brig(['inspect', 'svc'])).stdout) as Array<{
        state: string;
        exitCode: number;
        reason: string;
      }>;
      assert.deepEqual([after[0]!.state, after[0]!.exitCode, after[0]!.reason], ['exited', 137, 'signal']);
      assert.equal((await d.brig(['rm', 'svc'])).code, 0);
      assert.deepEqual(leftovers(d), []);
    } finally {
      await cleanup(d);
    }
  });

  test('run -it and exec -it give a terminal', async (t) => {
    const d = await daemon(t);
    try {
      const run = await inTerminal(
        d,
        ['run', '-it', '--rm', 'busybox', 'sh'],
        /# /,
        'tty; echo $((6*7)); exit 4\n',
      );
      assert.equal(run.code, 4);
      assert.match(run.out, /\/dev\/pts\/\d+/);
      assert.match(run.out, /^42\r?$/m);
      // exec -it into a running container: a terminal too, as the user asked, with its status
      assert.equal((await d.brig(['run', '-d', '--name', 'bg', 'busybox', 'sleep', '1000'])).code, 0);
      const exec = await inTerminal(
        d,
        ['exec', '-it', '-u', 'nobody', 'bg', 'sh'],
        /\$ /,
        'tty; id -u; exit 6\n',
      );
      assert.equal(exec.code, 6);
      assert.match(exec.out, /\/dev\/pts\/\d+/);
      assert.match(exec.out, /^65534\r?$/m);
    } finally {
      await cleanup(d);
    }
  });

  test('kill -9 of brigd: containers keep running; one that died meanwhile gets its exit code', async (t) => {
    const d = await daemon(t);
    try {
      const keep = (await d.brig(['run', '-d', '--name', 'keep', 'busybox', 'sleep', '1000'])).stdout.trim();
      const dies = (await d.brig(['run', '-d', '--name', 'dies', 'busybox', 'sleep', '1000'])).stdout.trim();
      const psBefore = JSON.parse((await d.brig(['ps', '--json'])).stdout) as Array<{
        id: string;
        pid: number;
      }>;
      const pidOf = (id: string) => psBefore.find((c) => c.id === id)!.pid;
      await d.stop('SIGKILL');
      process.kill(pidOf(dies), 'SIGKILL');
      process.kill(pidOf(keep), 0); // still alive without brigd
      await d.restart();
      const ps = JSON.parse((await d.brig(['ps', '-a', '--json'])).stdout) as Array<{
        name: string;
        state: string;
        exitCode?: number;
        reason?: string;
        pid?: number;
      }>;
      const k = ps.find((c) => c.name === 'keep')!;
      const x = ps.find((c) => c.name === 'dies')!;
      assert.deepEqual([k.state, k.pid], ['running', pidOf(keep)]);
      assert.deepEqual([x.state, x.exitCode, x.reason], ['exited', 137, 'signal']);
      // the restarted brigd still learns of exits
      await d.brig(['kill', 'keep']);
      assert.equal((await d.brig(['wait', 'keep'])).stdout, '137\n');
    } finally {
      await cleanup(d);
    }
  });
});
