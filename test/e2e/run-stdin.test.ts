/**
 * `brig run -i` when the container exits while its stdin still has bytes for it (as
 * `head -c 4M /dev/zero | docker run -i IMAGE sh -c 'echo hi'`): the output the container wrote
 * still reaches the CLI. The attach bridge used to die on the failed send (SIGPIPE, or its exit on
 * a failed send) or give up on the ECONNRESET Linux reports before the queued packets, and the
 * run printed nothing with status 0. The built brig and brigd with the real runc and conmon.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { busyboxDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'busybox', 'perl'] });

test('run -i: output written before an exit that leaves stdin unread is not lost', needs, async (t) => {
  const d = await busyboxDaemon(t);
  const input = '\0'.repeat(4 * 1024 * 1024);
  for (let i = 0; i < 5; i++) {
    const r = await d.brig(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'echo hi; exit 3'], { input });
    assert.deepEqual([r.code, r.stdout], [3, 'hi\n'], `run ${i + 1}: ${r.stderr}`);
  }
  assert.equal((await d.brig(['ps', '-a', '-q'])).stdout, '');
});
