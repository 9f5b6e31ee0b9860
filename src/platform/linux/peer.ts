/**
 * Linux: the credentials of the process at the other end of an accepted Unix socket.
 *
 *   1. /proc/self/fd/<fd> is a link to `socket:[INODE]` (our end's inode).
 *   2. `ss -xpn` lists every Unix socket with its inode, its peer's inode and the processes
 *      holding it (`users:(("brig",pid=123,fd=3))`); the client's end is the socket whose inode
 *      is our peer's (equivalently, whose peer is our inode).
 *   3. /proc/<pid>/status gives Uid, Gid (real, effective, saved, fs) and Groups.
 * Several processes can hold one socket (fork); then every one must resolve and the answer is
 * the one they share, else undefined. Needs root to see other users' processes (brigd is root);
 * without it the answer is undefined, which refuses --grant: the safe side.
 */
import { readFile, readlink } from 'node:fs/promises';
import type { Socket } from 'node:net';
import type { CommandRunner } from '../exec.ts';
import type { PeerCredentials } from '../peer.ts';
import { socketFd } from '../peer.ts';

export interface SsUnixRow {
  inode: number;
  peer: number;
  pids: number[];
}

/** Rows of `ss -xpn` (header and unparseable lines skipped). */
export function parseSsUnix(stdout: string): SsUnixRow[] {
  const out: SsUnixRow[] = [];
  for (const line of stdout.split('\n')) {
    // Netid State Recv-Q Send-Q Local-Address Port Peer-Address Port [users:(...)]
    const m = /^\S+\s+\S+\s+\d+\s+\d+\s+(?:.*?\s+)?(\d+)\s+\S+\s+(\d+)(?:\s+(users:.*))?\s*$/.exec(line);
    if (!m) continue;
    const pids = [...(m[3] ?? '').matchAll(/pid=(\d+)/g)].map((x) => Number(x[1]));
    out.push({ inode: Number(m[1]), peer: Number(m[2]), pids });
  }
  return out;
}

/** Effective uid/gid and supplementary groups from /proc/PID/status text. */
export function parseProcStatus(text: string): Omit<PeerCredentials, 'pid'> | undefined {
  const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim().split(/\s+/);
  const uid = field('Uid');
  const gid = field('Gid');
  if (!uid || uid.length < 2 || !gid || gid.length < 2) return undefined;
  const groups = (field('Groups') ?? []).filter((x) => x !== '').map(Number);
  return { uid: Number(uid[1]), gid: Number(gid[1]), groups };
}

export async function linuxPeerCredentials(
  runner: CommandRunner,
  socket: Socket,
): Promise<PeerCredentials | undefined> {
  const fd = socketFd(socket);
  if (fd === undefined) return undefined;
  const link = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
  const m = /^socket:\[(\d+)\]$/.exec(link);
  if (!m) return undefined;
  const ours = Number(m[1]);
  const r = await runner.run('ss', ['-xpn'], { check: false });
  if (r.code !== 0) return undefined;
  const rows = parseSsUnix(r.stdout.toString('utf8'));
  const mine = rows.find((x) => x.inode === ours);
  const peer = rows.find((x) => x.inode !== ours && (x.peer === ours || (mine && x.inode === mine.peer)));
  if (!peer || peer.pids.length === 0) return undefined;
  let found: PeerCredentials | undefined;
  for (const pid of new Set(peer.pids)) {
    const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    const c = text === undefined ? undefined : parseProcStatus(text);
    if (!c) return undefined;
    if (found && (found.uid !== c.uid || found.gid !== c.gid)) return undefined;
    found ??= { ...c, pid };
  }
  return found;
}
