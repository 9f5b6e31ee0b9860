/**
 * Who is at the other end of an API connection. Node has no SO_PEERCRED / LOCAL_PEERCRED API, so
 * each platform finds the peer process through the host's own tools and reads its credentials:
 *   linux    ./linux/peer.ts    /proc/self/fd/N -> socket inode -> `ss -xpn` (peer inode, pid)
 *                               -> /proc/PID/status (Uid, Gid, Groups)
 *   freebsd  ./freebsd/peer.ts  `sockstat -u -c` (untested on a real FreeBSD host; see there)
 * The answer is what the kernel says about the peer process when asked, not what the client
 * claims. It costs a process scan, so brigd asks only for requests that need it (--grant).
 * `undefined` means "unknown", which callers must treat as "not an administrator".
 */
import type { Socket } from 'node:net';
import type { CommandRunner } from './exec.ts';
import { freebsdPeerCredentials } from './freebsd/peer.ts';
import { linuxPeerCredentials } from './linux/peer.ts';

export interface PeerCredentials {
  /** Effective uid of the peer process. */
  uid: number;
  /** Effective gid. */
  gid: number;
  /** Supplementary groups. */
  groups: number[];
  pid?: number;
  /** User name, when the tool reports it. */
  user?: string;
}

export type PeerLookup = (socket: Socket, socketPath: string) => Promise<PeerCredentials | undefined>;

/** The lookup for a platform name (`linux`, `freebsd`; the simulated host has no real peers). */
export function peerLookup(platformName: string, runner: CommandRunner): PeerLookup {
  if (platformName === 'freebsd') return (s, path) => freebsdPeerCredentials(runner, s, path);
  // freebsd-simulated runs on Linux: its API socket is a real Linux socket.
  return (s) => linuxPeerCredentials(runner, s);
}

/** The fd of a connected net.Socket (libuv's handle; undefined if closed or not a pipe). */
export function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
