/**
 * Supervision: every container runs under its own conmon, which brigd starts and then forgets.
 *
 * conmon (without --sync) forks once and the parent exits after writing the conmon pidfile; the
 * child calls setsid() and becomes the container's subreaper. So conmon is never brigd's child
 * nor in brigd's process group or session: containers survive brigd stopping, even `kill -9`.
 *
 * Start protocol (facts from conmon 2.1's source):
 *   1. brigd spawns conmon with `_OCI_SYNCPIPE=3` and fd 3 a pipe. conmon runs
 *      `RUNTIME --root R create --bundle B --pid-file P [--console-socket S] ID`.
 *   2. conmon writes one JSON line to the sync pipe: `{"pid": N}` once the runtime created the
 *      container, or `{"pid": -1, "message": "<the runtime's stderr>"}` when it failed.
 *   3. brigd runs `RUNTIME start ID`. The process now runs.
 *   4. When it exits conmon writes its status (exit code, or 128+signal) to `<exit-dir>/<ID>`
 *      and `<persist-dir>/exit`, and on an OOM kill creates `<persist-dir>/oom` and `oom` in its
 *      working directory (2.1.6; later versions: `<bundle>/oom`): brigd starts it in the bundle.
 *      brigd watches the exit dir (./exit-watcher.ts).
 * Logs: `-l k8s-file:PATH`, lines `<RFC3339Nano> stdout|stderr F|P <text>`.
 * Terminal (`-t`): conmon receives the pty from the runtime through its console socket and
 * serves it on the attach socket `<bundle>/attach` (SOCK_SEQPACKET; reached through the short
 * symlink `<socket-dir>/<cuuid>` -> bundle). Packets from conmon: [1 byte stream: 2 stdout,
 * 3 stderr][data]; packets to conmon: raw stdin bytes. Resize: write `1 ROWS COLS\n` to the fifo
 * `<bundle>/ctl`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BrigError } from '../errors/errors.ts';
import { spawnChild } from '../platform/exec.ts';
import type { RuntimeInfo } from '../platform/platform.ts';
import { runtimeMessage } from './oci-runtime.ts';

export interface ConmonStart {
  id: string;
  /** Short id used for the attach-socket symlink (keeps socket paths short). */
  cuuid: string;
  name: string;
  bundle: string;
  logPath: string;
  exitDir: string;
  socketDir: string;
  terminal: boolean;
  /** Keep a stdin pipe for attach clients (`-i`). */
  stdin: boolean;
}

export interface ConmonStarted {
  pid: number;
  conmonPid: number;
}

/** The arguments both kinds of conmon end with: the runtime's state root, and errors-only logging. */
function rootAndLogArgs(runtime: RuntimeInfo): string[] {
  return ['--runtime-arg', '--root', '--runtime-arg', runtime.stateRoot, '--log-level', 'error'];
}

export function conmonArgs(runtime: RuntimeInfo, o: ConmonStart): string[] {
  const a = [
    '-c',
    o.id,
    '-u',
    o.cuuid,
    '-n',
    o.name,
    '-r',
    runtime.path,
    '-b',
    o.bundle,
    '-p',
    join(o.bundle, 'pidfile'),
    '-P',
    join(o.bundle, 'conmon.pid'),
    '-l',
    `k8s-file:${o.logPath}`,
    '--exit-dir',
    o.exitDir,
    '-0',
    o.bundle,
    '--socket-dir-path',
    o.socketDir,
    ...rootAndLogArgs(runtime),
  ];
  if (o.terminal) a.push('-t');
  if (o.stdin) a.push('-i');
  return a;
}

/** Reads the first newline-terminated JSON object from the sync pipe. */
function readSyncMessage(pipe: Readable): Promise<{ value?: number; message?: string } | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    const done = (v: { value?: number; message?: string } | undefined) => {
      pipe.removeAllListeners('data');
      pipe.destroy();
      resolve(v);
    };
    pipe.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        const j = JSON.parse(buf.slice(0, nl)) as { pid?: number; data?: number; message?: string };
        done({ value: j.data ?? j.pid, ...(j.message ? { message: j.message } : {}) });
      } catch {
        done({ message: buf.slice(0, nl) });
      }
    });
    pipe.on('end', () => done(undefined));
    pipe.on('error', () => done(undefined));
  });
}

/**
 * Runs conmon until the runtime has CREATED the container (step 2). The caller then starts it
 * with OciRuntime.start. Throws ERR_RUNTIME_START carrying the runtime's own message.
 */
export async function conmonCreate(
  conmonPath: string,
  runtime: RuntimeInfo,
  o: ConmonStart,
): Promise<ConmonStarted> {
  const child = spawnChild(conmonPath, conmonArgs(runtime, o), {
    // conmon 2.1.6 creates its `oom` file relative to its working directory
    cwd: o.bundle,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3' },
    detached: true,
  });
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => stderr.push(b));
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('exit', (code) => resolve(code ?? -1));
  });
  const sync = readSyncMessage(child.stdio[3] as Readable);
  const [msg, code] = await Promise.all([sync, exited]);
  child.unref();
  if (!msg || msg.value === undefined || msg.value <= 0) {
    const text =
      runtimeMessage(msg?.message ?? '') ||
      Buffer.concat(stderr).toString().trim() ||
      `conmon exited with status ${code} before the container was created`;
    throw new BrigError('ERR_RUNTIME_START', text);
  }
  // synchronous: a few bytes conmon wrote before its parent exited (awaited above); an
  // asynchronous read is a thread-pool round trip on the start's critical path
  const conmonPid = Number(readOr0(join(o.bundle, 'conmon.pid')).trim());
  return { pid: msg.value, conmonPid };
}

function readOr0(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '0';
  }
}

/** Asks conmon to resize the container's terminal. */
export async function resizeTerminal(bundle: string, rows: number, cols: number): Promise<void> {
  const { open } = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  // O_NONBLOCK: conmon holds the read side open; never block brigd if it is gone.
  const fh = await open(join(bundle, 'ctl'), constants.O_WRONLY | constants.O_NONBLOCK).catch(
    () => undefined,
  );
  if (!fh) return;
  try {
    await fh.write(`1 ${Math.max(1, rows | 0)} ${Math.max(1, cols | 0)}\n`);
  } catch {
  } finally {
    await fh.close();
  }
}

export interface ConmonExec {
  /** The running container's id. */
  id: string;
  /** A short unique id of this exec session (attach-socket symlink name). */
  execId: string;
  /** A fresh directory for this session (conmon's -b: attach socket, ctl fifo, pid file). */
  dir: string;
  /** runtime-spec process (terminal true) written to `<dir>/process.json` by the caller. */
  processFile: string;
  socketDir: string;
}

/**
 * `exec -t`: runc needs a console socket for a terminal, so the session runs under conmon
 * (`--exec --exec-attach -t`, API version 1). Protocol (conmon 2.1's source): brigd writes to
 * the start pipe (fd 5) so conmon proceeds; conmon reports its attach socket ready on the attach
 * pipe (fd 4); brigd connects (`attach` callback) and writes the start pipe again; conmon runs
 * `runtime exec --tty --console-socket ...`; the sync pipe (fd 3) carries `{"data": PID}` and,
 * when the process exits, `{"data": EXIT_CODE}`.
 */
export async function conmonExec(
  conmonPath: string,
  runtime: RuntimeInfo,
  o: ConmonExec,
  attach: (socketPath: string) => Promise<void>,
): Promise<{ pid: number; exit: Promise<number> }> {
  const args = [
    '--api-version',
    '-c',
    o.id,
    '-u',
    o.execId,
    '-r',
    runtime.path,
    '-b',
    o.dir,
    '-p',
    join(o.dir, 'pid'),
    '-l',
    `k8s-file:${join(o.dir, 'log')}`,
    '--exit-dir',
    o.dir,
    '--socket-dir-path',
    o.socketDir,
    '-e',
    '--exec-process-spec',
    o.processFile,
    '--exec-attach',
    '-t',
    ...rootAndLogArgs(runtime),
  ];
  const child = spawnChild(conmonPath, args, {
    cwd: o.dir,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_ATTACHPIPE: '4', _OCI_STARTPIPE: '5' },
    detached: true,
  });
  child.unref();
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => stderr.push(b));
  const startPipe = (child.stdio as unknown as import('node:stream').Duplex[])[5]!;
  startPipe.on('error', () => {});
  const messages = jsonLines(child.stdio[3] as Readable);
  const attachReady = jsonLines(child.stdio[4] as Readable);
  startPipe.write('0');
  const ready = await attachReady.next();
  (child.stdio[4] as Readable).destroy();
  if (ready.done) {
    throw new BrigError(
      'ERR_EXEC_FAILED',
      Buffer.concat(stderr).toString().trim() || 'conmon did not attach',
    );
  }
  await attach(join(o.socketDir, o.execId, 'attach'));
  startPipe.write('0');
  const first = await messages.next();
  const pid = first.done ? -1 : (first.value.data ?? -1);
  if (pid <= 0) {
    startPipe.destroy();
    const msg = first.done ? Buffer.concat(stderr).toString() : (first.value.message ?? '');
    throw new BrigError('ERR_EXEC_FAILED', runtimeMessage(msg) || 'the runtime could not exec the process');
  }
  const exit = (async () => {
    const last = await messages.next();
    startPipe.destroy();
    (child.stdio[3] as Readable).destroy();
    return last.done ? 255 : (last.value.data ?? 255);
  })();
  return { pid, exit };
}

/** Newline-delimited JSON objects from a pipe. */
async function* jsonLines(r: Readable): AsyncGenerator<{ data?: number; pid?: number; message?: string }> {
  let buf = '';
  for await (const chunk of r as AsyncIterable<Buffer>) {
    buf += chunk.toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const j = JSON.parse(line) as { data?: number; pid?: number; message?: string };
        yield { ...j, ...(j.data === undefined && j.pid !== undefined ? { data: j.pid } : {}) };
      } catch {
        yield { message: line };
      }
    }
  }
}
