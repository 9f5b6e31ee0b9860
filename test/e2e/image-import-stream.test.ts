/**
 * `brig image import -` streams the archive to brigd (built CLI and daemon):
 *   - the CLI's files are invisible to brigd: the CLI runs in its own mount namespace whose
 *     $TMPDIR is a private tmpfs (as a client on another machine behind a forwarded socket), and
 *     the import still works (before, the CLI handed brigd a path under its $TMPDIR);
 *   - a CLI killed while it sends the archive leaves nothing behind in brigd's root: the upload
 *     file is removed, no lease, no ingestion, no image; brigd then imports the same archive;
 *   - an upload left by a brigd killed mid-upload is removed at its next start.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { busyboxImage } from '../support/busybox.ts';
import { BRIG, childEnv, outputOf, startDaemon, type TestDaemon } from '../support/daemon.ts';
import { pollFor } from '../support/poll.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

const needs = requires({
  root: true,
  linux: true,
  commands: ['umoci', 'busybox', 'tar', 'unshare', 'mount'],
});

/** The busybox fixture as an OCI archive (a tar of the layout). */
function archiveOf(dir: string): string {
  const archive = join(dir, 'bb.tar');
  execFileSync('tar', ['-C', busyboxImage().layout, '-cf', archive, '.']);
  return archive;
}

/** What brigd's root holds of imports in flight: uploads, ingestions, leases. */
function leftovers(d: TestDaemon): { uploads: string[]; ingest: string[]; leases: number } {
  const dir = (p: string) => (existsSync(p) ? readdirSync(p) : []);
  const db = new Database(join(d.root, 'brig.db'), { readonly: true, fileMustExist: true });
  try {
    const { n } = db.prepare('SELECT COUNT(*) AS n FROM leases').get() as { n: number };
    return {
      uploads: dir(join(d.root, 'import')),
      ingest: dir(join(d.root, 'content', 'ingest')),
      leases: n,
    };
  } finally {
    db.close();
  }
}

/** Polls `ok` every 50 ms (test/support/poll.ts); gives up after 30 s (the old code never gets there). */
const eventually = (what: string, ok: () => boolean) => pollFor(what, ok, { timeoutMs: 30_000, everyMs: 50 });

test(
  'image import - works when brigd cannot see the CLI’s files (private TMPDIR in another mount namespace)',
  needs,
  async (t) => {
    const d = await startDaemon(t);
    const work = tempDir(t);
    const archive = archiveOf(work);
    const tmp = tempDir(t); // mounted over by a tmpfs that only the CLI's namespace sees
    const fd = openSync(archive, 'r');
    // unshare(1) runs the script in a new mount namespace (private propagation): the tmpfs on
    // $TMPDIR and anything written there stay invisible to brigd
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount -t tmpfs brig-cli-tmp "$TMPDIR" && exec "$@"',
        'sh',
        process.execPath,
        BRIG,
        '--host',
        `unix://${d.socket}`,
        'image',
        'import',
        '-',
        'busybox:streamed',
      ],
      { env: childEnv({ TMPDIR: tmp }), stdio: [fd, 'pipe', 'pipe'] },
    );
    closeSync(fd);
    const r = await outputOf(child);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Imported docker.io\/library\/busybox:streamed\nsha256:[0-9a-f]{64}\n$/);
    const listed = await d.brig(['images', '--json']);
    const images = JSON.parse(listed.stdout) as Array<{ names: string[] }>;
    assert.deepEqual(
      images.map((i) => i.names),
      [['docker.io/library/busybox:streamed']],
    );
    assert.deepEqual(leftovers(d), { uploads: [], ingest: [], leases: 0 });
    assert.deepEqual(readdirSync(tmp), []);

    // the path form is unchanged, and a docker-style empty stdin is still refused
    const again = await d.brig(['image', 'import', archive, 'busybox:path']);
    assert.equal(again.code, 0, again.stderr);
    writeFileSync(join(work, 'empty'), '');
    const efd = openSync(join(work, 'empty'), 'r');
    const empty = spawn(process.execPath, [BRIG, '--host', `unix://${d.socket}`, 'image', 'import', '-'], {
      env: childEnv(),
      stdio: [efd, 'pipe', 'pipe'],
    });
    closeSync(efd);
    const e = await outputOf(empty);
    assert.equal(e.code, 125);
    assert.match(e.stderr, /stdin is empty/);

    // an archive brigd cannot read: refused, and the error does not name brigd's private file
    writeFileSync(join(work, 'junk'), Buffer.alloc(4096, 1));
    const jfd = openSync(join(work, 'junk'), 'r');
    const junk = spawn(process.execPath, [BRIG, '--host', `unix://${d.socket}`, 'image', 'import', '-'], {
      env: childEnv(),
      stdio: [jfd, 'pipe', 'pipe'],
    });
    closeSync(jfd);
    const j = await outputOf(junk);
    assert.equal(j.code, 125);
    assert.ok(!j.stderr.includes(d.root), j.stderr);
    assert.deepEqual(leftovers(d), { uploads: [], ingest: [], leases: 0 });
  },
);

test(
  'a CLI killed while it sends the archive leaves no upload, lease, ingestion or image in brigd',
  needs,
  async (t) => {
    const d = await startDaemon(t);
    const work = tempDir(t);
    const bytes = readFileSync(archiveOf(work));
    const half = bytes.subarray(0, bytes.length >> 1);
    const child = spawn(
      process.execPath,
      [BRIG, '--host', `unix://${d.socket}`, 'image', 'import', '-', 'bb:1'],
      {
        env: childEnv(),
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const out = outputOf(child);
    child.stdin.on('error', () => {}); // EPIPE once it is killed
    child.stdin.write(half); // and no more: the upload stands half done
    await eventually('brigd received part of the archive under its root', () => {
      const up = leftovers(d).uploads;
      return up.length === 1 && statSync(join(d.root, 'import', up[0]!)).size > 0;
    });
    child.kill('SIGKILL');
    await out;
    await eventually('the upload was removed', () => leftovers(d).uploads.length === 0);
    assert.deepEqual(leftovers(d), { uploads: [], ingest: [], leases: 0 });
    const listed = await d.brig(['images', '--json']);
    assert.deepEqual(JSON.parse(listed.stdout), []);

    // brigd is fine: the whole archive imports
    const r = await d.brig(['image', 'import', join(work, 'bb.tar'), 'bb:1']);
    assert.equal(r.code, 0, r.stderr);
  },
);

test('an upload left by a brigd killed mid-upload is removed at the next start', needs, async (t) => {
  const d = await startDaemon(t);
  const work = tempDir(t);
  const bytes = readFileSync(archiveOf(work));
  const child = spawn(process.execPath, [BRIG, '--host', `unix://${d.socket}`, 'image', 'import', '-'], {
    env: childEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out = outputOf(child);
  child.stdin.on('error', () => {});
  child.stdin.write(bytes.subarray(0, bytes.length >> 1));
  await eventually('brigd received part of the archive', () => leftovers(d).uploads.length === 1);
  await d.stop('SIGKILL');
  child.kill('SIGKILL');
  await out;
  assert.equal(leftovers(d).uploads.length, 1, 'the killed brigd left its upload');
  await d.restart();
  assert.deepEqual(leftovers(d), { uploads: [], ingest: [], leases: 0 });
  assert.match(d.logs(), /removed import uploads left by an earlier run/);
});
