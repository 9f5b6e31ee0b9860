/**
 * FreeBSD: who is connected to brigd's API socket. NOT RUN ON A REAL FreeBSD HOST: written from
 * sockstat(1) and id(1), tested only against recorded text.
 *
 * FreeBSD's sockstat does not pair the two ends of a Unix stream connection: for a client's
 * socket it prints LOCAL ADDRESS as "-> PATH" (the endpoint's file name). So brigd cannot tell
 * which of several clients sent a given request. It answers conservatively: it lists every
 * process connected to PATH (`sockstat -u -c`, rows whose local address is "-> PATH", other than
 * brigd itself), and the caller counts as those processes' shared user only when there is
 * exactly one such user; that user's groups come from `id -G USER`. With two users connected
 * at once the answer is undefined, and --grant is refused (the safe side).
 */
import type { Socket } from 'node:net';
import type { CommandRunner } from '../exec.ts';
import type { PeerCredentials } from '../peer.ts';

export interface SockstatRow {
  user: string;
  command: string;
  pid: number;
  fd: number;
  proto: string;
  local: string;
}

/** Rows of `sockstat -u -c`: USER COMMAND PID FD PROTO LOCAL-ADDRESS [FOREIGN-ADDRESS]. */
export function parseSockstat(stdout: string): SockstatRow[] {
  const out: SockstatRow[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*?)\s*$/.exec(line);
    if (!m) continue;
    out.push({
      user: m[1]!,
      command: m[2]!,
      pid: Number(m[3]),
      fd: Number(m[4]),
      proto: m[5]!,
      local: m[6]!,
    });
  }
  return out;
}

export async function freebsdPeerCredentials(
  runner: CommandRunner,
  _socket: Socket,
  socketPath: string,
): Promise<PeerCredentials | undefined> {
  const r = await runner.run('sockstat', ['-u', '-c'], { check: false });
  if (r.code !== 0) return undefined;
  const clients = parseSockstat(r.stdout.toString('utf8')).filter(
    (x) => x.pid !== process.pid && x.local.split(/\s+/).join(' ').startsWith(`-> ${socketPath}`),
  );
  const users = new Set(clients.map((c) => c.user));
  if (users.size !== 1) return undefined;
  const user = [...users][0]!;
  const uid = await runner.run('id', ['-u', user], { check: false });
  const gid = await runner.run('id', ['-g', user], { check: false });
  const groups = await runner.run('id', ['-G', user], { check: false });
  if (uid.code !== 0 || gid.code !== 0 || groups.code !== 0) return undefined;
  return {
    uid: Number(uid.stdout.toString().trim()),
    gid: Number(gid.stdout.toString().trim()),
    groups: groups.stdout.toString().trim().split(/\s+/).filter(Boolean).map(Number),
    user,
    ...(clients.length === 1 ? { pid: clients[0]!.pid } : {}),
  };
}
