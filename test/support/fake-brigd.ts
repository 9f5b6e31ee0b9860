/**
 * For tests that stand in for brigd on a Unix socket: reads one HTTP request from a connection
 * (head and a Content-Length body) and hands over its path, parsed JSON body and raw text.
 */
import type { Socket } from 'node:net';

export function onRequest(
  s: Socket,
  handle: (req: { path: string; body: unknown; raw: string }) => void,
): void {
  let buf = '';
  s.on('data', (b) => {
    buf += b;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const len = Number(/content-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
    if (buf.length < end + 4 + len) return;
    const path = buf.split(' ')[1]!;
    const body = len ? JSON.parse(buf.slice(end + 4, end + 4 + len)) : undefined;
    handle({ path, body, raw: buf });
  });
}
