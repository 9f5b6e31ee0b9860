/**
 * Shared by run, start -a, logs, exec: printing a container's log entries, and relaying the
 * terminal over a hijacked stream (raw mode, window size, stdin) — frames of
 * src/client/containers.ts.
 */
import type { Socket } from 'node:net';
import type { BrigClient } from '../../client/client.ts';
import { containers, FRAME, FrameDecoder, frame } from '../../client/containers.ts';
import { brigErrorFromJSON } from '../../errors/errors.ts';

export async function printLogs(
  client: BrigClient,
  id: string,
  q: { follow?: boolean; since?: string; tail?: number; timestamps?: boolean },
): Promise<void> {
  for await (const e of containers.logs(client, id, q)) {
    const out = e.stream === 'stderr' ? process.stderr : process.stdout;
    out.write(`${q.timestamps ? `${e.time} ` : ''}${e.text}${e.partial ? '' : '\n'}`);
  }
}

/**
 * Relays stdin/stdout over a stream (attach or exec). Resolves with the exit frame's code, if
 * the stream sent one.
 */
export async function relay(
  socket: Socket,
  head: Buffer,
  opts: { tty: boolean; stdin: boolean },
): Promise<number | undefined> {
  const dec = new FrameDecoder();
  let exitCode: number | undefined;
  let error: Error | undefined;
  // process.stdin only with -i: making the stream loads fs streams or a socket (~1-2 ms of a
  // CLI start) for nothing
  const stdin = opts.stdin ? process.stdin : undefined;
  const raw = opts.tty && stdin?.isTTY === true;
  const sendSize = () => {
    if (process.stdout.isTTY) {
      socket.write(
        frame(FRAME.resize, JSON.stringify({ rows: process.stdout.rows, cols: process.stdout.columns })),
      );
    }
  };
  const onData = (b: Buffer) => {
    for (const f of dec.push(b)) {
      if (f.type === FRAME.stdout) process.stdout.write(f.payload);
      else if (f.type === FRAME.stderr) process.stderr.write(f.payload);
      else if (f.type === FRAME.exit)
        exitCode = (JSON.parse(f.payload.toString()) as { exitCode: number }).exitCode;
      else if (f.type === FRAME.error) error = brigErrorFromJSON(JSON.parse(f.payload.toString()));
      else if (f.type === FRAME.ready && opts.tty) sendSize();
    }
  };
  if (head.length) onData(head);
  socket.on('data', onData);
  if (opts.tty) process.stdout.on('resize', sendSize);
  if (stdin) {
    if (raw) stdin.setRawMode(true);
    stdin.on('data', (b: Buffer) => socket.write(frame(FRAME.stdin, b)));
    stdin.on('end', () => socket.write(frame(FRAME.stdinClose)));
    stdin.resume();
  }
  await new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
  if (stdin) {
    if (raw) stdin.setRawMode(false);
    stdin.pause();
    stdin.destroy();
  }
  process.stdout.off('resize', sendSize);
  if (error) throw error;
  return exitCode;
}

export async function interactive(
  client: BrigClient,
  id: string,
  opts: { tty: boolean; stdin: boolean; start: boolean },
): Promise<void> {
  const { socket, head } = await containers.attach(client, id, { start: opts.start });
  await relay(socket, head, opts);
}
