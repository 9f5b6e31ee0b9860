/**
 * Containers: create, start, stop, kill, restart, rm, ps, inspect, wait, logs, top, stats,
 * attach and exec (hijacked streams, frames of src/client/containers.ts), cp (archive).
 * docs/api.md § Containers.
 */

import { randomBytes } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { FRAME, FrameDecoder, frame, type LogEntry } from '../../client/containers.ts';
import { type Container, parseRestartPolicy, parseSize, shownState } from '../../containers/container.ts';
import type { ContainerService, CreateRequest } from '../../containers/service.ts';
import type { Services } from '../../daemon/services.ts';
import { BrigError } from '../../errors/errors.ts';
import { spawnChild } from '../../platform/exec.ts';
import { mergeEnv } from '../../runtime/bundle.ts';
import { conmonExec, resizeTerminal } from '../../runtime/conmon.ts';
import { type ApiRequest, created, noContent, type Router, STREAMED } from '../router.ts';

function service(s: Services): ContainerService {
  if (!s.containers) {
    throw new BrigError('ERR_RUNTIME_UNAVAILABLE', 'containers are not available in this daemon', {
      hint: 'See the runtime section of `brig system info` and brigd’s log.',
    });
  }
  return s.containers;
}

export function view(c: Container, full = false) {
  const r = c.spec.restart;
  return {
    id: c.id,
    name: c.name,
    image: c.image,
    imageId: c.imageId,
    // 'restarting' while a restart is pending (src/containers/container.ts)
    state: shownState(c),
    createdAt: c.createdAt,
    ...(c.status.startedAt !== undefined ? { startedAt: c.status.startedAt } : {}),
    ...(c.status.finishedAt !== undefined ? { finishedAt: c.status.finishedAt } : {}),
    ...(c.status.exitCode !== undefined ? { exitCode: c.status.exitCode } : {}),
    ...(c.status.reason ? { reason: c.status.reason } : {}),
    ...(c.status.error ? { error: c.status.error } : {}),
    ...(c.status.pid !== undefined ? { pid: c.status.pid } : {}),
    // FreeBSD: the jail id (brig ps, brig inspect)
    ...(c.status.jid !== undefined ? { jid: c.status.jid } : {}),
    restartCount: c.status.restartCount,
    restartPolicy: r.name === 'on-failure' && r.maxRetries ? `on-failure:${r.maxRetries}` : r.name,
    command: c.status.process?.args ?? c.spec.command,
    labels: c.labels,
    ...(full ? { spec: c.spec, status: c.status } : {}),
  };
}

const str = (v: unknown, what: string): string | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new BrigError('ERR_API_BODY', `${what} must be a string`);
  return v;
};
const strs = (v: unknown, what: string): string[] | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new BrigError('ERR_API_BODY', `${what} must be an array of strings`);
  }
  return v as string[];
};
const num = (v: unknown, what: string): number | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new BrigError('ERR_API_BODY', `${what} must be a non-negative number`);
  }
  return v;
};

/** Smallest --memory (docker's): below it no container process starts. */
export const MIN_MEMORY = 6 * 1024 * 1024;
/** Smallest --cpus: 1% of one CPU (rctl's `pcpu` is a whole percentage; docker's minimum too). */
export const MIN_CPUS = 0.01;
/** A hostname label (RFC 1123): letters, digits, '-' inside; 1 to 63 bytes. */
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * The longest hostname the host's kernel takes, in bytes: Linux's HOST_NAME_MAX (64; sethostname(2)
 * refuses more with EINVAL, so runc would fail at start), FreeBSD's MAXHOSTNAMELEN - 1 (255, jail(8)).
 */
export const HOSTNAME_MAX = { linux: 64, freebsd: 255 } as const;

/**
 * Refuses a hostname the platform's kernel (HOSTNAME_MAX; 255 when `os` is not known) or a
 * resolver would not take: ERR_INVALID_ARGUMENT, at create, before anything exists.
 */
export function checkHostname(h: string, os?: 'linux' | 'freebsd'): string {
  const max = os ? HOSTNAME_MAX[os] : 255;
  const why =
    h.length === 0
      ? 'it is empty'
      : Buffer.byteLength(h) > max
        ? `it is longer than ${max} bytes${os === 'linux' ? ' (the Linux kernel’s limit)' : ''}`
        : h.split('.').every((l) => HOST_LABEL.test(l))
          ? undefined
          : 'each dot-separated label must be 1-63 letters, digits or inner hyphens';
  if (why)
    throw new BrigError(
      'ERR_INVALID_ARGUMENT',
      `invalid hostname ${JSON.stringify(h.slice(0, 80))}: ${why}`,
      {
        details: { field: 'hostname', maximum: max },
      },
    );
  return h;
}

function checkLimits(memory: number | undefined, cpus: number | undefined): void {
  if (memory !== undefined && memory < MIN_MEMORY)
    throw new BrigError('ERR_INVALID_ARGUMENT', `--memory ${memory} is below the minimum of 6 MiB`, {
      hint: 'Give at least 6m.',
      details: { field: 'memory', minimum: MIN_MEMORY },
    });
  if (cpus !== undefined && cpus < MIN_CPUS)
    throw new BrigError('ERR_INVALID_ARGUMENT', `--cpus ${cpus} is below the minimum of ${MIN_CPUS}`, {
      hint: 'Give at least 0.01 (1% of one CPU).',
      details: { field: 'cpus', minimum: MIN_CPUS },
    });
}

/**
 * Validates the create body (the CLI already parsed the flags; other clients may not have).
 * `os`: the daemon's platform (limits that depend on its kernel, e.g. the hostname's length).
 */
export function createRequest(b: Record<string, unknown>, os?: 'linux' | 'freebsd'): CreateRequest {
  const image = str(b.image, 'image');
  if (!image) throw new BrigError('ERR_API_BODY', 'image is required');
  const restart = parseRestartPolicy(str(b.restart, 'restart'));
  if (!restart) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `invalid restart policy ${String(b.restart)}`, {
      hint: 'Use no, on-failure[:N], always or unless-stopped.',
    });
  }
  let memory = b.memory;
  if (typeof memory === 'string') memory = parseSize(memory);
  const mounts = b.mounts;
  if (
    mounts !== undefined &&
    (!Array.isArray(mounts) ||
      mounts.some(
        (m) =>
          typeof m !== 'object' ||
          !m ||
          !['volume', 'mount', 'tmpfs'].includes(m.kind) ||
          typeof m.value !== 'string',
      ))
  ) {
    throw new BrigError('ERR_API_BODY', 'mounts must be [{kind: volume|mount|tmpfs, value}]');
  }
  const labels = b.labels;
  if (labels !== undefined && (typeof labels !== 'object' || labels === null || Array.isArray(labels))) {
    throw new BrigError('ERR_API_BODY', 'labels must be an object of strings');
  }
  const r: CreateRequest = {
    image,
    restart,
    ...(b.name != null ? { name: str(b.name, 'name')! } : {}),
    ...(b.command != null ? { command: strs(b.command, 'command')! } : {}),
    ...(b.entrypoint != null ? { entrypoint: str(b.entrypoint, 'entrypoint')! } : {}),
    ...(b.env != null ? { env: strs(b.env, 'env')! } : {}),
    ...(b.workdir != null ? { workdir: str(b.workdir, 'workdir')! } : {}),
    ...(b.user != null ? { user: str(b.user, 'user')! } : {}),
    ...(b.hostname != null ? { hostname: checkHostname(str(b.hostname, 'hostname')!, os) } : {}),
    tty: b.tty === true,
    stdin: b.stdin === true,
    readOnly: b.readOnly === true,
    autoRemove: b.autoRemove === true,
    ...(mounts ? { mounts: mounts as CreateRequest['mounts'] } : {}),
    ...(memory != null ? { memory: num(memory, 'memory')! } : {}),
    ...(b.cpus != null ? { cpus: num(b.cpus, 'cpus')! } : {}),
    ...(b.pidsLimit != null ? { pidsLimit: num(b.pidsLimit, 'pidsLimit')! } : {}),
    ...(b.stopSignal != null ? { stopSignal: str(b.stopSignal, 'stopSignal')! } : {}),
    ...(b.stopTimeout != null ? { stopTimeout: num(b.stopTimeout, 'stopTimeout')! } : {}),
    ...(labels ? { labels: labels as Record<string, string> } : {}),
    ...(b.grants != null ? { grants: strs(b.grants, 'grants')! } : {}),
  };
  checkLimits(r.memory, r.cpus);
  return r;
}

/** ps --filter: status=, name=, label=K[=V], id=, ancestor= */
export function matches(c: Container, filters: string[]): boolean {
  for (const f of filters) {
    const i = f.indexOf('=');
    const k = i < 0 ? f : f.slice(0, i);
    const v = i < 0 ? '' : f.slice(i + 1);
    switch (k) {
      case 'status':
      case 'state':
        if (shownState(c) !== v) return false;
        break;
      case 'name':
        if (!c.name.includes(v)) return false;
        break;
      case 'id':
        if (!c.id.startsWith(v)) return false;
        break;
      case 'ancestor':
        if (c.image !== v && c.imageId !== v) return false;
        break;
      case 'label': {
        const j = v.indexOf('=');
        const lk = j < 0 ? v : v.slice(0, j);
        if (!(lk in c.labels) || (j >= 0 && c.labels[lk] !== v.slice(j + 1))) return false;
        break;
      }
      case 'reason':
        if (c.status.reason !== v) return false;
        break;
      default:
        throw new BrigError('ERR_INVALID_ARGUMENT', `unknown filter ${k}`, {
          hint: 'Filters: status=, name=, id=, label=K[=V], ancestor=, reason=.',
        });
    }
  }
  return true;
}

/** `--since`: unix seconds, RFC 3339, or a duration before now (10s, 5m, 2h). */
export function parseSince(v: string, now = Date.now()): number {
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (d)
    return now - Number(d[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[d[2] as 'ms' | 's' | 'm' | 'h'];
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new BrigError('ERR_INVALID_ARGUMENT', `cannot parse --since ${v}`);
  return t;
}

/** One k8s-file line: `<RFC3339Nano> <stream> <F|P> <text>`. */
export function parseLogLine(line: string): LogEntry | undefined {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return undefined;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  return { time: line.slice(0, a), stream, partial: tag === 'P', text: c < 0 ? '' : line.slice(c + 1) };
}

async function streamLogs(
  svc: ContainerService,
  ref: string,
  q: URLSearchParams,
  res: Duplex | NodeJS.WritableStream,
) {
  const c = svc.get(ref);
  const path = svc.logPath(c.id);
  const follow = q.get('follow') === '1' || q.get('follow') === 'true';
  const since = q.get('since') ? parseSince(q.get('since')!) : undefined;
  const tailQ = q.get('tail');
  const tail = tailQ !== null && tailQ !== 'all' ? Number(tailQ) : undefined;
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `--tail must be a number or all, not ${tailQ}`);
  }
  let offset = 0;
  let rest = '';
  const fh = await open(path, 'r').catch(() => undefined);
  const readNew = async (): Promise<LogEntry[]> => {
    if (!fh) return [];
    const out: LogEntry[] = [];
    for (;;) {
      const buf = Buffer.alloc(1 << 16);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      rest += buf.subarray(0, bytesRead).toString('utf8');
      let i: number;
      while ((i = rest.indexOf('\n')) >= 0) {
        const e = parseLogLine(rest.slice(0, i));
        rest = rest.slice(i + 1);
        if (e && (since === undefined || Date.parse(e.time) >= since)) out.push(e);
      }
    }
    return out;
  };
  const write = (e: LogEntry) => res.write(`${JSON.stringify(e)}\n`);
  try {
    let first = await readNew();
    if (tail !== undefined) {
      // the last `tail` whole lines (a line is its partial pieces up to the full one)
      let lines = 0;
      let k = first.length;
      while (k > 0 && lines < tail) {
        k--;
        if (!first[k]!.partial) lines++;
        while (k > 0 && first[k - 1]!.partial) k--;
      }
      if (lines === 0) k = first.length;
      first = first.slice(k);
    }
    for (const e of first) write(e);
    if (!follow) return;
    // follow: wake on file changes; end once the container is no longer running (and no restart
    // is pending) and everything written has been sent
    let wake: (() => void) | undefined;
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(join(path, '..'), () => wake?.());
    } catch {}
    let closed = false;
    (res as Duplex).on?.('close', () => {
      closed = true;
      wake?.();
    });
    try {
      while (!closed) {
        for (const e of await readNew()) write(e);
        let cur: Container;
        try {
          cur = svc.get(c.id);
        } catch {
          break;
        }
        const done = cur.state !== 'running' && cur.status.restartAt === undefined;
        if (done) {
          for (const e of await readNew()) write(e);
          break;
        }
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 250).unref();
        });
      }
    } finally {
      watcher?.close();
    }
  } finally {
    await fh?.close();
  }
}

function sendError(socket: Duplex, e: unknown) {
  const body =
    e instanceof BrigError ? e.toJSON() : { code: 'ERR_INTERNAL', kind: 'internal', message: String(e) };
  socket.write(frame(FRAME.error, JSON.stringify(body)));
}

const UPGRADE_RESPONSE =
  'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: brig-stream\r\n\r\n';

/**
 * Relays a hijacked client stream to a conmon attach socket (SOCK_SEQPACKET, through the
 * platform's bridge process). `connect(path)` resolves once connected; until then client input
 * is kept. `end` says whether the client stream ends when the attach socket closes.
 * `prespawn()`: when the platform has a deferred bridge, it is spawned then (called while the
 * runtime creates the container: ContainerService.start's `whileCreating`), so that its fork and
 * start-up overlap the creation instead of delaying the start; `connect` then only hands it the
 * path.
 */
function attachBridge(
  platform: NonNullable<Services['platform']>,
  socket: Duplex,
  head: Buffer,
  onResize: (rows: number, cols: number) => void,
  end: boolean,
) {
  let bridge: ReturnType<typeof spawnChild> | undefined;
  const decoder = new FrameDecoder();
  const onInput = (b: Buffer) => {
    for (const f of decoder.push(b)) {
      if (f.type === FRAME.stdin) bridge?.stdin?.write(f.payload);
      else if (f.type === FRAME.stdinClose) bridge?.stdin?.end();
      else if (f.type === FRAME.resize) {
        const { rows, cols } = JSON.parse(f.payload.toString()) as { rows: number; cols: number };
        onResize(rows, cols);
      }
    }
  };
  const pending: Buffer[] = head.length ? [head] : [];
  let closed: () => void = () => {};
  const done = new Promise<void>((r) => {
    closed = r;
  });
  const spawnBridge = (path: string | undefined) => {
    const { cmd, args } =
      path === undefined ? platform.seqpacketBridgeDeferred!() : platform.seqpacketBridge(path);
    const child = spawnChild(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let buf = Buffer.alloc(0);
    let ready: (() => void) | undefined;
    let failed: ((e: Error) => void) | undefined;
    const connected = new Promise<void>((res, rej) => {
      ready = res;
      failed = rej;
    });
    connected.catch(() => {});
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout!.on('data', (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (buf.length < 4 + len) break;
        const pkt = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        if (len === 0) {
          ready?.();
          continue;
        }
        const type = pkt[0] === 3 ? FRAME.stderr : FRAME.stdout; // conmon: 2 stdout, 3 stderr
        socket.write(frame(type, pkt.subarray(1)));
      }
    });
    child.on('close', () => {
      failed?.(new BrigError('ERR_RUNTIME', `cannot attach: ${err.trim() || 'the attach socket closed'}`));
      closed();
      if (end) socket.end();
    });
    child.stdin!.on('error', () => {});
    return { child, connected };
  };
  let started: ReturnType<typeof spawnBridge> | undefined;
  let killed = false;
  const prespawn = () => {
    if (!started && !killed && platform.seqpacketBridgeDeferred) started = spawnBridge(undefined);
  };
  const kill = () => {
    killed = true;
    (bridge ?? started?.child)?.kill();
  };
  socket.on('data', (b: Buffer) => (bridge ? onInput(b) : pending.push(b)));
  socket.on('close', kill);
  socket.on('error', kill);
  const connect = async (path: string) => {
    if (started) started.child.stdin!.write(`${path}\n`);
    else started = spawnBridge(path);
    bridge = started.child;
    await started.connected;
    for (const b of pending.splice(0)) onInput(b);
  };
  return { connect, done, kill, prespawn };
}

/** Attach: relays the container's stdio through conmon's attach socket. */
async function attach(s: Services, ref: string, startIt: boolean, socket: Duplex, head: Buffer) {
  const svc = service(s);
  socket.write(UPGRADE_RESPONSE);
  const b = attachBridge(
    s.platform!,
    socket,
    head,
    (rows, cols) => void svc.resize(ref, rows, cols).catch(() => {}),
    true,
  );
  try {
    const path = svc.attachSocket(ref);
    if (startIt) await svc.start(ref, { beforeStart: () => b.connect(path), whileCreating: b.prespawn });
    else await b.connect(path);
    socket.write(frame(FRAME.ready));
  } catch (e) {
    sendError(socket, e);
    socket.end();
    b.kill();
  }
}

/**
 * `brig run` in one round trip: create (errors are the HTTP answer, before the upgrade), then
 * attach, start and stream like attach with start; the stream ends with an exit frame once the
 * container exited and, with autoRemove, was removed (so `ps -a` right after never shows it and
 * nothing it held is left). A start that fails is an error frame; an autoRemove container is
 * removed first. The container's id is sent first as a `created` frame.
 */
async function run(s: Services, req: Omit<ApiRequest, 'res' | 'json'>, socket: Duplex, head: Buffer) {
  const svc = service(s);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(req.query.get('config') ?? '');
  } catch {
    throw new BrigError('ERR_API_BODY', 'config is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new BrigError('ERR_API_BODY', 'config must be an object');
  const t0 = performance.now();
  const ms: Record<string, number> = {};
  const span = (name: string) => {
    ms[name] = Math.round((performance.now() - t0) * 10) / 10;
  };
  const request = createRequest(body, s.platform?.os);
  await s.privileges?.callerFor(request.grants, req.raw.socket, req.caller);
  const { container: c, image } = await svc.createResolved(request, req.caller);
  span('created');
  socket.write(UPGRADE_RESPONSE);
  socket.write(frame(FRAME.created, JSON.stringify({ id: c.id })));
  const b = attachBridge(
    s.platform!,
    socket,
    head,
    (rows, cols) => void svc.resize(c.id, rows, cols).catch(() => {}),
    false,
  );
  try {
    const path = svc.attachSocket(c.id);
    await svc.start(c.id, { beforeStart: () => b.connect(path), whileCreating: b.prespawn, image });
    span('started');
    socket.write(frame(FRAME.ready));
  } catch (e) {
    b.kill();
    if (c.spec.autoRemove) await svc.remove(c.id, { force: true, volumes: true }).catch(() => {});
    sendError(socket, e);
    socket.end();
    return;
  }
  await b.done;
  span('detached');
  try {
    const r = await svc.wait(c.id);
    span('exited');
    if (c.spec.autoRemove) await svc.settled(c.id);
    span('settled');
    s.log('debug', 'run', { id: c.id, ms });
    if (r.reason === 'failed-to-start') {
      sendError(socket, new BrigError('ERR_RUNTIME_START', r.error ?? 'the container failed to start'));
    } else {
      socket.write(frame(FRAME.exit, JSON.stringify(r)));
    }
  } catch (e) {
    sendError(socket, e);
  }
  socket.end();
}

/** `exec -t`: the session runs under conmon, which holds the pty (src/runtime/conmon.ts). */
async function execTty(
  s: Services,
  svc: ContainerService,
  c: Container,
  proc: {
    args: string[];
    env: string[];
    cwd?: string;
    user?: { uid: number; gid: number; additionalGids: number[] };
  },
  socket: Duplex,
  head: Buffer,
) {
  const { info } = await svc.runtime();
  const spec = JSON.parse(await readFile(join(svc.dir(c.id), 'config.json'), 'utf8')) as {
    process: Record<string, unknown>;
  };
  const execId = randomBytes(6).toString('hex');
  const dir = join(svc.dirs.runtime, 'exec', execId);
  await mkdir(dir, { recursive: true });
  try {
    const processFile = join(dir, 'process.json');
    const user = proc.user
      ? {
          uid: proc.user.uid,
          gid: proc.user.gid,
          ...(proc.user.additionalGids.length ? { additionalGids: proc.user.additionalGids } : {}),
        }
      : spec.process.user;
    await writeFile(
      processFile,
      JSON.stringify({
        ...spec.process,
        terminal: true,
        args: proc.args,
        env: proc.env,
        cwd: proc.cwd ?? spec.process.cwd,
        user,
      }),
    );
    const b = attachBridge(
      s.platform!,
      socket,
      head,
      (rows, cols) => void resizeTerminal(dir, rows, cols),
      false,
    );
    socket.on('close', () => b.kill());
    const { exit } = await conmonExec(
      info.conmon.path,
      info,
      { id: c.id, execId, dir, processFile, socketDir: svc.dirs.sockets },
      (path) => b.connect(path),
    );
    socket.write(frame(FRAME.ready));
    const code = await exit;
    await b.done;
    socket.write(frame(FRAME.exit, JSON.stringify({ exitCode: code })));
    socket.end();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Exec: `runtime exec` with piped stdio (a pty from the runtime with tty). */
async function exec(s: Services, ref: string, q: URLSearchParams, socket: Duplex, head: Buffer) {
  const svc = service(s);
  socket.write(UPGRADE_RESPONSE);
  try {
    let cfg: {
      args?: unknown;
      env?: unknown;
      user?: unknown;
      workdir?: unknown;
      tty?: unknown;
      stdin?: unknown;
    };
    try {
      cfg = JSON.parse(q.get('config') ?? '{}');
    } catch {
      throw new BrigError('ERR_API_BODY', 'config is not JSON');
    }
    const args = strs(cfg.args, 'args');
    if (!args?.length) throw new BrigError('ERR_NO_COMMAND', 'exec needs a command');
    const { c, rt } = await svc.execTarget(ref);
    const user = str(cfg.user, 'user');
    let uidgid: string | undefined;
    let resolved: { uid: number; gid: number; additionalGids: number[] } | undefined;
    if (user) {
      const { readUserDb, resolveUser } = await import('../../runtime/bundle.ts');
      // frozen: a process of the container cannot swap /etc for a link to the host's meanwhile
      const db = await svc.whileFrozen(c.id, (_, rootfs) =>
        readUserDb(s.platform?.hostView?.(rootfs) ?? rootfs),
      );
      resolved = resolveUser(user, db.passwd, db.group);
      uidgid = `${resolved.uid}:${resolved.gid}`;
    }
    const env = [...(c.status.process?.env ?? []), ...(strs(cfg.env, 'env') ?? [])];
    const workdir = str(cfg.workdir, 'workdir');
    if (cfg.tty === true) {
      await execTty(
        s,
        svc,
        c,
        {
          args,
          env: mergeEnv(
            env,
            ['TERM=xterm'].filter(() => !env.some((e) => e.startsWith('TERM='))),
          ),
          ...(workdir ? { cwd: posix.normalize(workdir) } : {}),
          ...(resolved ? { user: resolved } : {}),
        },
        socket,
        head,
      );
      return;
    }
    // ocijail and runj take the process as a runtime-spec file (FreeBSD)
    let processFile: string | undefined;
    if (rt.execNeedsProcessFile) {
      const { execProcess } = await import('../../runtime/oci-runtime.ts');
      const [uid, gid] = (uidgid ?? '0:0').split(':').map(Number);
      processFile = join(svc.dir(c.id), `exec-${process.hrtime.bigint()}.json`);
      const cwd = workdir ? posix.normalize(workdir) : (c.status.process?.cwd ?? '/');
      const spec = execProcess({ args, env, cwd, uid: uid ?? 0, gid: gid ?? 0, tty: cfg.tty === true });
      await writeFile(processFile, JSON.stringify(spec));
    }
    const execArgs = rt.execArgs(c.id, {
      args,
      env,
      tty: cfg.tty === true,
      ...(workdir ? { cwd: posix.normalize(workdir) } : {}),
      ...(uidgid ? { user: uidgid } : {}),
      ...(processFile ? { processFile } : {}),
    });
    // freebsd-simulated: nothing can be spawned; the simulated host runs it (no tty, no stdin)
    const runExec = s.platform?.runExec;
    if (runExec && cfg.tty !== true) {
      socket.write(frame(FRAME.ready));
      const r = await runExec
        .call(s.platform, rt.info.path, execArgs)
        .finally(() => (processFile ? rm(processFile, { force: true }) : undefined));
      if (r.stdout.length) socket.write(frame(FRAME.stdout, r.stdout));
      if (r.stderr.length) socket.write(frame(FRAME.stderr, r.stderr));
      socket.write(frame(FRAME.exit, JSON.stringify({ exitCode: r.code })));
      socket.end();
      return;
    }
    const child = spawnChild(rt.info.path, execArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    if (processFile) {
      const f = processFile;
      child.on('close', () => void rm(f, { force: true }));
    }
    const decoder = new FrameDecoder();
    const onInput = (b: Buffer) => {
      for (const f of decoder.push(b)) {
        if (f.type === FRAME.stdin) child.stdin!.write(f.payload);
        else if (f.type === FRAME.stdinClose) child.stdin!.end();
      }
    };
    child.stdin!.on('error', () => {});
    if (head.length) onInput(head);
    socket.on('data', onInput);
    if (cfg.stdin !== true) child.stdin!.end();
    child.stdout!.on('data', (b: Buffer) => socket.write(frame(FRAME.stdout, b)));
    // The runtime's own log lines (`time="…" level=error msg="…"`) are held back: when the exec
    // failed to start (exit 255) they become docker's 126/127 and a plain message.
    const held: Buffer[] = [];
    child.stderr!.on('data', (b: Buffer) => {
      if (RUNTIME_LOG_LINE.test(b.toString('utf8', 0, 64))) held.push(b);
      else socket.write(frame(FRAME.stderr, b));
    });
    socket.on('close', () => child.kill('SIGKILL'));
    socket.write(frame(FRAME.ready));
    let code = await new Promise<number>((resolve) => {
      child.on('error', () => resolve(126));
      child.on('close', (code, signal) =>
        resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : 255)),
      );
    });
    const failed = held.length
      ? (await import('../../runtime/oci-runtime.ts')).execFailure(code, Buffer.concat(held).toString('utf8'))
      : undefined;
    if (failed) {
      code = failed.exitCode;
      socket.write(frame(FRAME.stderr, `brig: ${failed.message}\n`));
    } else for (const b of held) socket.write(frame(FRAME.stderr, b));
    socket.write(frame(FRAME.exit, JSON.stringify({ exitCode: code })));
    socket.end();
  } catch (e) {
    sendError(socket, e);
    socket.end();
  }
}

/** The start of a line the OCI runtime logs (runc, crun) rather than the exec'd program. */
const RUNTIME_LOG_LINE = /^time="[^"]*" level=/;

function signalNumber(sig: NodeJS.Signals): number | undefined {
  const n = (
    {
      SIGHUP: 1,
      SIGINT: 2,
      SIGQUIT: 3,
      SIGKILL: 9,
      SIGTERM: 15,
      SIGUSR1: 10,
      SIGUSR2: 12,
      SIGPIPE: 13,
    } as Record<string, number>
  )[sig];
  return n;
}

/**
 * `brig cp` out of a container. The container is frozen while tar reads (svc.whileFrozen): its
 * processes cannot swap a directory for a link to the host's between the resolution and the
 * read. A client that goes away ends tar (and so the pause).
 */
async function archiveOut(svc: ContainerService, ref: string, path: string, res: NodeJS.WritableStream) {
  const { safeJoin } = await import('../../containers/copy.ts');
  await svc.whileFrozen(ref, async (_, rootfs) => {
    const { parent, base } = await safeJoin(rootfs, path);
    const child = spawnChild('tar', ['-C', parent, '-cf', '-', '--', base], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const gone = () => child.kill('SIGKILL');
    res.once('close', gone);
    child.stderr!.resume();
    child.stdout!.pipe(res as NodeJS.WritableStream);
    await closed;
    res.removeListener('close', gone);
  });
}

export function register(r: Router, s: Services): void {
  r.post('/containers', async (req) => {
    const body = await req.json<Record<string, unknown>>();
    const request = createRequest(body, s.platform?.os);
    // privileges: the caller (peer of the socket) is found only when --grant is used; it fills
    // req.caller (uid, gid, groups, user) for the administrator check (src/privileges/service.ts)
    await s.privileges?.callerFor(request.grants, req.raw.socket, req.caller);
    const c = await service(s).create(request, req.caller);
    return created(view(c));
  });
  r.get('/containers', (req) => {
    const all = req.query.get('all') === '1' || req.query.get('all') === 'true';
    const filters = req.query.getAll('filter');
    return service(s)
      .list({ all: all || filters.some((f) => f.startsWith('status=') || f.startsWith('state=')) })
      .filter((c) => matches(c, filters))
      .map((c) => view(c));
  });
  r.get('/containers/:id', (req) => view(service(s).get(req.params.id!), true));
  r.post('/containers/:id/start', async (req) => view(await service(s).start(req.params.id!)));
  r.post('/containers/:id/stop', async (req) => {
    const t = req.query.get('t');
    const signal = req.query.get('signal');
    return view(
      await service(s).stop(req.params.id!, {
        ...(t !== null ? { timeout: Number(t) } : {}),
        ...(signal ? { signal } : {}),
      }),
    );
  });
  r.post('/containers/:id/kill', async (req) =>
    view(await service(s).kill(req.params.id!, req.query.get('signal') || 'SIGKILL')),
  );
  r.post('/containers/:id/restart', async (req) => {
    const t = req.query.get('t');
    return view(await service(s).restart(req.params.id!, t !== null ? { timeout: Number(t) } : {}));
  });
  r.delete('/containers/:id', async (req) => {
    await service(s).remove(req.params.id!, {
      force: req.query.get('force') === '1',
      volumes: req.query.get('volumes') === '1',
    });
    return noContent;
  });
  r.post('/containers/:id/wait', (req) => service(s).wait(req.params.id!));
  r.get('/containers/:id/top', (req) => service(s).top(req.params.id!));
  r.get('/containers/:id/stats', (req) => service(s).stats(req.params.id!));
  r.post('/containers/:id/resize', async (req) => {
    await service(s).resize(req.params.id!, Number(req.query.get('h')), Number(req.query.get('w')));
    return noContent;
  });
  r.get('/containers/:id/logs', async (req) => {
    const svc = service(s);
    svc.get(req.params.id!);
    req.res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    try {
      await streamLogs(svc, req.params.id!, req.query, req.res);
    } catch (e) {
      const body = e instanceof BrigError ? e.toJSON() : { code: 'ERR_INTERNAL', message: String(e) };
      req.res.write(`${JSON.stringify({ error: body })}\n`);
    }
    req.res.end();
    return STREAMED;
  });
  r.get('/containers/:id/archive', async (req) => {
    const svc = service(s);
    const path = req.query.get('path');
    if (!path) throw new BrigError('ERR_INVALID_ARGUMENT', 'path is required');
    await svc.execTarget(req.params.id!);
    req.res.writeHead(200, { 'content-type': 'application/x-tar' });
    await archiveOut(svc, req.params.id!, path, req.res);
    req.res.end();
    return STREAMED;
  });
  r.put('/containers/:id/archive', async (req) => {
    const svc = service(s);
    const path = req.query.get('path');
    if (!path) throw new BrigError('ERR_INVALID_ARGUMENT', 'path is required');
    // frozen while brigd writes (see archiveOut), through the container's mounts
    await svc.copyIn(req.params.id!, path, req.raw);
    return noContent;
  });
  r.upgrade('/containers/run', (req, socket, head) => run(s, req, socket, head));
  r.upgrade('/containers/:id/attach', (req, socket, head) =>
    attach(s, req.params.id!, req.query.get('start') === '1', socket, head),
  );
  r.upgrade('/containers/:id/exec', (req, socket, head) => exec(s, req.params.id!, req.query, socket, head));
}
