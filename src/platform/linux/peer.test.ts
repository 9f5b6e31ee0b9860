import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { requires } from '../../../test/support/require.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { hostRunner } from '../exec.ts';
import { parseSockstat } from '../freebsd/peer.ts';
import { linuxPeerCredentials, parseProcStatus, parseSsUnix } from './peer.ts';

test('parseSsUnix reads inode, peer inode and pids', () => {
  const out = [
    'Netid State Recv-Q Send-Q Local Address:Port  Peer Address:Port Process',
    'u_str ESTAB 0      0      /run/brig.sock 55403            * 55404 users:(("node",pid=7427,fd=23))',
    'u_str ESTAB 0      0                  * 55404            * 55403 users:(("brig",pid=9,fd=3),("brig",pid=10,fd=3))',
    'u_str ESTAB 0      0                  * 74000            * 0',
  ].join('\n');
  assert.deepEqual(parseSsUnix(out), [
    { inode: 55403, peer: 55404, pids: [7427] },
    { inode: 55404, peer: 55403, pids: [9, 10] },
    { inode: 74000, peer: 0, pids: [] },
  ]);
});

test('parseProcStatus takes the effective ids and the supplementary groups', () => {
  const s = 'Name:\tbrig\nUid:\t1000\t1001\t1001\t1001\nGid:\t100\t101\t101\t101\nGroups:\t4 24 27 \n';
  assert.deepEqual(parseProcStatus(s), { uid: 1001, gid: 101, groups: [4, 24, 27] });
  assert.deepEqual(parseProcStatus('Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n'), {
    uid: 0,
    gid: 0,
    groups: [],
  });
  assert.equal(parseProcStatus('Name: x\n'), undefined);
});

test('parseSockstat (FreeBSD, recorded format)', () => {
  const out = [
    'USER     COMMAND    PID   FD  PROTO  LOCAL ADDRESS         FOREIGN ADDRESS',
    'root     brigd      812   9   stream /var/run/brig.sock',
    'alice    node       901   20  stream -> /var/run/brig.sock',
  ].join('\n');
  assert.deepEqual(parseSockstat(out), [
    { user: 'root', command: 'brigd', pid: 812, fd: 9, proto: 'stream', local: '/var/run/brig.sock' },
    { user: 'alice', command: 'node', pid: 901, fd: 20, proto: 'stream', local: '-> /var/run/brig.sock' },
  ]);
});

test(
  'linuxPeerCredentials finds this very process at the other end',
  requires({ root: true, commands: ['ss'], linux: true }),
  async (t) => {
    const path = join(tempDir(t), 's.sock');
    let accepted!: Socket;
    const server = createServer((s) => {
      accepted = s;
    });
    await new Promise<void>((r) => server.listen(path, r));
    const client = createConnection(path);
    await new Promise<void>((r) => client.on('connect', r));
    while (!accepted) await new Promise((r) => setTimeout(r, 5));
    const c = await linuxPeerCredentials(hostRunner, accepted);
    client.destroy();
    accepted.destroy();
    await new Promise((r) => server.close(r));
    const own = parseProcStatus(readFileSync('/proc/self/status', 'utf8'))!;
    assert.deepEqual(c, { ...own, pid: process.pid });
  },
);
