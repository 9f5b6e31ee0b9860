/**
 * conmon and ocijail on the simulated host.
 *
 * conmon: the flags of `conmon --help` (2.1.x); `--cid`, `--cuuid`, `--runtime`, `--log-path`
 *   required with conmon's own messages. It runs `RUNTIME [--runtime-arg...] create --bundle B
 *   --pid-file P ID` (the simulated ocijail, logged with `via: 'conmon'`), writes
 *   --conmon-pidfile, creates the log file, and when the container's process ends writes the
 *   exit status (decimal, no newline) to `EXIT_DIR/CID` and `PERSIST_DIR/exit`, as conmon does.
 *   Real conmon daemonizes and reports a failed create only through its sync pipe; the
 *   simulated one exits 1 with the runtime's error instead (what a caller reading the pipe sees).
 * ocijail (dfr/ocijail 0.6): `[--root DIR] [--log FILE] [--log-format text|json]
 *   [--log-level info|warn|debug] create|start|state|kill|delete|exec|list ...`, reading the
 *   bundle's config.json from the real filesystem and creating the jail with the parameters
 *   ocijail sets (name=ID, persist, enforce_statfs=1, allow.raw_sockets, allow.chflags, path,
 *   host.hostname, sysvmsg/sysvsem/sysvshm, vnet, ip4/ip6 from the org.freebsd.* annotations).
 *   It does not read the runtime spec's `freebsd` section (neither does ocijail).
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parseRuleSpec } from './devfs-tool.ts';
import type { ContainerState, HostState, ProcessState } from './host-state.ts';
import { ALLOW_PARAMS, findJail, removeJail } from './jail-tools.ts';
import { endContainer } from './lifecycle.ts';
import { unmountEntry } from './mount-tools.ts';
import {
  die,
  NON_FATAL_SIGNALS,
  normPath,
  ok,
  SIGNALS,
  signalName,
  type ToolContext,
  ToolExit,
  type ToolOutput,
  uint,
} from './tool.ts';

export const OCIJAIL_PATH = '/usr/local/bin/ocijail';
export const CONMON_PATH = '/usr/local/bin/conmon';
const OCIJAIL_STATE = '/var/run/ocijail';

const CONMON_ARGS = new Set([
  'api-version',
  'bundle',
  'cid',
  'conmon-pidfile',
  'container-pidfile',
  'cuuid',
  'exec-process-spec',
  'exit-command',
  'exit-command-arg',
  'exit-delay',
  'exit-dir',
  'log-level',
  'log-path',
  'log-size-max',
  'log-global-size-max',
  'log-tag',
  'name',
  'persist-dir',
  'restore',
  'runtime',
  'runtime-arg',
  'runtime-opt',
  'sdnotify-socket',
  'socket-dir-path',
  'timeout',
  'seccomp-notify-socket',
  'seccomp-notify-plugins',
]);
const CONMON_FLAGS = new Set([
  'exec',
  'exec-attach',
  'leave-stdin-open',
  'no-new-keyring',
  'no-pivot',
  'no-sync-log',
  'replace-listen-pid',
  'stdin',
  'sync',
  'syslog',
  'systemd-cgroup',
  'terminal',
  'version',
  'full-attach',
  'help',
]);
const CONMON_SHORT: Record<string, string> = {
  b: 'bundle',
  c: 'cid',
  P: 'conmon-pidfile',
  p: 'container-pidfile',
  u: 'cuuid',
  e: 'exec',
  l: 'log-path',
  n: 'name',
  '0': 'persist-dir',
  r: 'runtime',
  i: 'stdin',
  s: 'systemd-cgroup',
  t: 'terminal',
  T: 'timeout',
  h: 'help',
};

/** Option names ocijail's mount code maps to mount flags or ignores (never passed to nmount). */
const OCIJAIL_FLAG_OPTIONS = new Set([
  'async',
  'atime',
  'exec',
  'suid',
  'symfollow',
  'rdonly',
  'sync',
  'union',
  'userquota',
  'groupquota',
  'clusterr',
  'clusterw',
  'suiddir',
  'snapshot',
  'multilabel',
  'acls',
  'nfsv4acls',
  'automounted',
  'untrusted',
  'force',
  'update',
  'ro',
  'rw',
  'cover',
  'emptydir',
  'private',
  'rprivate',
  'rbind',
  'nodev',
  'bind',
]);
/** nmount(2) options nullfs itself takes (besides fstype, fspath, target). */
const NULLFS_OPTIONS = new Set(['nocache', 'cache', 'from', 'export', 'errmsg']);

function parseConmon(args: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const put = (k: string, v: string) => m.set(k, [...(m.get(k) ?? []), v]);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    let name: string;
    let val: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      val = eq < 0 ? undefined : a.slice(eq + 1);
    } else if (a.startsWith('-') && a.length >= 2) {
      const long = CONMON_SHORT[a[1]!];
      if (!long) die(`conmon: option parsing failed: Unknown option ${a}`);
      name = long;
      val = a.length > 2 ? a.slice(2) : undefined;
    } else die(`conmon: option parsing failed: Unexpected argument ${a}`);
    if (CONMON_FLAGS.has(name)) {
      if (val !== undefined) die(`conmon: option parsing failed: Option --${name} does not take an argument`);
      put(name, 'true');
    } else if (CONMON_ARGS.has(name)) {
      if (val === undefined) {
        if (i + 1 >= args.length) die(`conmon: option parsing failed: Missing argument for --${name}`);
        val = args[++i]!;
      }
      put(name, val);
    } else die(`conmon: option parsing failed: Unknown option ${a}`);
  }
  return m;
}

export interface ConmonHooks {
  /** Runs the simulated runtime as conmon would, logging it. */
  runRuntime(args: string[]): ToolOutput;
  allocPid(): number;
}

export function conmonTool(ctx: ToolContext, args: string[], hooks: ConmonHooks): ToolOutput {
  const o = parseConmon(args);
  const one = (k: string) => o.get(k)?.at(-1);
  if (o.has('version')) return ok('conmon version 2.1.6\ncommit: unknown\n');
  if (o.has('help')) return ok('Usage:\n  conmon [OPTION…] - conmon utility\n');
  if (!one('cid')) die('conmon: Container ID not provided. Use --cid');
  if (!one('cuuid') && !o.has('exec')) die('[conmon:e] Container UUID not provided. Use --cuuid');
  if (!one('runtime')) die('[conmon:e] Runtime path not provided. Use --runtime');
  const logs = o.get('log-path') ?? [];
  if (logs.length === 0 && !o.has('exec')) die('[conmon:e] Log driver not provided. Use --log-path');
  let logDriver: 'k8s-file' | 'journald' | 'passthrough' | 'none' = 'none';
  let logPath: string | undefined;
  for (const l of logs) {
    const colon = l.indexOf(':');
    const drv = colon < 0 ? (l.startsWith('/') ? 'k8s-file' : l) : l.slice(0, colon);
    const path = colon < 0 ? (l.startsWith('/') ? l : undefined) : l.slice(colon + 1);
    if (drv === 'k8s-file') {
      if (!path) die('[conmon:e]: k8s-file requires a filename');
      logDriver = 'k8s-file';
      logPath = path;
    } else if (drv === 'journald' || drv === 'passthrough' || drv === 'none') {
      if (logDriver === 'none') logDriver = drv;
    } else die(`[conmon:e]: No such log driver ${drv}`);
  }
  if (o.has('terminal') && logDriver === 'passthrough')
    die('[conmon:e]: passthrough logging is not supported with terminal');
  const runtime = one('runtime')!;
  if (runtime !== OCIJAIL_PATH && runtime !== 'ocijail')
    die(
      `[conmon:e]: simulated host: runtime ${runtime} is not installed (the simulated host has ${OCIJAIL_PATH})`,
    );
  const cid = one('cid')!;
  const bundle = one('bundle') ?? '.';
  const containerPidfile = one('container-pidfile') ?? join(bundle, 'pidfile');
  const rargs = [...(o.get('runtime-arg') ?? [])];
  if (o.has('exec')) {
    const spec = one('exec-process-spec');
    if (!spec) die('[conmon:e] Exec process spec path not provided. Use --exec-process-spec');
    const r = hooks.runRuntime([
      ...rargs,
      'exec',
      '--pid-file',
      containerPidfile,
      '--process',
      spec,
      ...(o.has('terminal') ? ['--tty'] : []),
      cid,
    ]);
    const exitDir = one('exit-dir');
    if (exitDir) ctx.effects.push(() => writeFileSync(join(exitDir, cid), String(r.code)));
    return { code: r.code === 0 ? 0 : 1, stdout: '', stderr: r.code === 0 ? '' : r.stderr };
  }
  const create = [...rargs, 'create', '--bundle', bundle, '--pid-file', containerPidfile];
  if (o.has('no-pivot')) create.push('--no-pivot');
  if (o.has('no-new-keyring')) create.push('--no-new-keyring');
  create.push(cid);
  const r = hooks.runRuntime(create);
  if (r.code !== 0) die(`[conmon:e] Failed to create container: exit status ${r.code}\n${r.stderr}`);
  const root = rootOf(rargs);
  const c = ctx.st.containers[`${root}/${cid}`];
  if (!c) die('[conmon:e] Failed to create container: runtime did not record it');
  const pid = hooks.allocPid();
  c.conmon = {
    pid,
    cid,
    exitDir: one('exit-dir'),
    persistDir: one('persist-dir'),
    logPath,
    logDriver,
    containerPidfile,
    conmonPidfile: one('conmon-pidfile'),
    exitCommand: o.has('exit-command')
      ? [one('exit-command')!, ...(o.get('exit-command-arg') ?? [])]
      : undefined,
  };
  const conmonPidfile = one('conmon-pidfile');
  if (conmonPidfile) ctx.effects.push(() => writeFileSync(conmonPidfile, String(pid)));
  if (logPath) {
    const lp = logPath;
    ctx.effects.push(() => {
      mkdirSync(dirname(lp), { recursive: true });
      appendFileSync(lp, '');
    });
  }
  return ok();
}

function rootOf(globalArgs: string[]): string {
  let root = OCIJAIL_STATE;
  for (let i = 0; i < globalArgs.length; i++) {
    const a = globalArgs[i]!;
    if (a === '--root') root = globalArgs[++i] ?? root;
    else if (a.startsWith('--root=')) root = a.slice(7);
  }
  return root;
}

// ---- ocijail ------------------------------------------------------------------------------

interface Cli {
  root: string;
  logFile?: string;
  logFormat: 'text' | 'json';
  sub: string;
  opts: Map<string, string>;
  positionals: string[];
}

const SUBS: Record<
  string,
  { opts: string[]; flags: string[]; short: Record<string, string>; positionals: string[] }
> = {
  create: {
    opts: ['--bundle', '--console-socket', '--pid-file', '--preserve-fds'],
    flags: ['--no-pivot', '--no-new-keyring'],
    short: { '-b': '--bundle' },
    positionals: ['container-id'],
  },
  start: { opts: [], flags: [], short: {}, positionals: ['container-id'] },
  delete: { opts: [], flags: ['--force'], short: { '-f': '--force' }, positionals: ['container-id'] },
  state: { opts: [], flags: [], short: {}, positionals: ['container-id'] },
  kill: {
    opts: ['--pid'],
    flags: ['--all'],
    short: { '-a': '--all', '-p': '--pid' },
    positionals: ['container-id', 'signal'],
  },
  exec: {
    opts: ['--process', '--console-socket', '--pid-file', '--preserve-fds'],
    flags: ['--tty', '--detach'],
    short: { '-t': '--tty', '-d': '--detach' },
    positionals: ['container-id'],
  },
  list: {
    opts: ['--format', '--quiet'],
    flags: [],
    short: { '-f': '--format', '-q': '--quiet' },
    positionals: [],
  },
  features: { opts: [], flags: [], short: {}, positionals: [] },
};

function cliError(msg: string, code: number): never {
  throw new ToolExit(code, `${msg}\nRun with --help for more information.\n`);
}

function parseOcijail(args: string[]): Cli {
  const cli: Cli = { root: OCIJAIL_STATE, logFormat: 'text', sub: '', opts: new Map(), positionals: [] };
  let i = 0;
  const globalOpt = (name: string, v: string) => {
    if (name === '--root') cli.root = v;
    else if (name === '--log') cli.logFile = v;
    else if (name === '--log-format') {
      if (!['text', 'json'].includes(v.toLowerCase()))
        cliError(`--log-format: Check ${v} value in {json,text} FAILED`, 105);
      cli.logFormat = v.toLowerCase() as 'text' | 'json';
    } else if (name === '--log-level') {
      if (!['info', 'warn', 'debug'].includes(v.toLowerCase()))
        cliError(`--log-level: Check ${v} value in {debug,info,warn} FAILED`, 105);
    }
  };
  const GLOBAL = ['--root', '--log', '--log-format', '--log-level'];
  for (; i < args.length; i++) {
    const a = args[i]!;
    const [n, v] = a.includes('=')
      ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
      : [a, undefined];
    if (GLOBAL.includes(n)) {
      const val = v ?? args[++i];
      if (val === undefined) cliError(`${n} requires 1 argument`, 107);
      globalOpt(n, val);
    } else if (a === '--version') throw new ToolExit(0, '', 'ocijail version 0.6.0-dev\n');
    else if (a.startsWith('-')) cliError(`The following argument was not expected: ${a}`, 109);
    else break;
  }
  const sub = args[i];
  if (sub === undefined) cliError('A subcommand is required', 106);
  const def = SUBS[sub];
  if (!def) cliError(`The following argument was not expected: ${sub}`, 109);
  cli.sub = sub;
  for (i++; i < args.length; i++) {
    const a = args[i]!;
    let [n, v] =
      a.startsWith('--') && a.includes('=')
        ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
        : [a, undefined as string | undefined];
    n = def.short[n] ?? n;
    if (def.opts.includes(n)) {
      const val = v ?? args[++i];
      if (val === undefined) cliError(`${n} requires 1 argument`, 107);
      cli.opts.set(n, val);
    } else if (def.flags.includes(n)) cli.opts.set(n, 'true');
    else if (GLOBAL.includes(n)) {
      const val = v ?? args[++i];
      if (val === undefined) cliError(`${n} requires 1 argument`, 107);
      globalOpt(n, val);
    } else if (a.startsWith('-') && a !== '-') cliError(`The following argument was not expected: ${a}`, 109);
    else cli.positionals.push(a);
  }
  if (cli.positionals.length > def.positionals.length)
    cliError(`The following argument was not expected: ${cli.positionals[def.positionals.length]}`, 109);
  if (def.positionals[0] === 'container-id' && cli.positionals.length === 0)
    cliError('container-id is required', 106);
  return cli;
}

export interface OcijailHooks {
  allocPid(): number;
  /** A just-started container should exit at once with this status (test behaviour). */
  exitOnStart(c: ContainerState, argv: string[]): number | undefined;
  ignoreSignals(c: ContainerState, argv: string[]): string[];
  /** jail(8)-checked creation of the container's jail (jail_set with JAIL_CREATE). */
  createJail(params: string[]): ToolOutput;
}

function fail(ctx: ToolContext, cli: Cli, msg: string): never {
  // log_timestamp(): put_time("%Y-%m-%dT%H:%M:%S") then tv_usec in a 9-wide zero-filled field, no dot.
  const now = ctx.now();
  const ts = `${new Date(now).toISOString().slice(0, 19)}${String((now % 1000) * 1000).padStart(9, '0')}Z`;
  const line =
    cli.logFormat === 'json' ? `${JSON.stringify({ msg, level: 'error', time: ts })}\n` : `${ts}: ${msg}\n`;
  if (cli.logFile) {
    const lf = cli.logFile;
    // The log line is written even though the command fails: ocijail appends before exiting.
    try {
      appendFileSync(lf, line);
    } catch {}
    throw new ToolExit(1, `Error: ${msg}\n`);
  }
  throw new ToolExit(1, line);
}

function readJson(ctx: ToolContext, path: string): unknown {
  const b = ctx.readFile(path);
  if (!b) return undefined;
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return null;
  }
}

function resolveInRoot(root: string, dest: string): string {
  return normPath(`${root}/${normPath(dest)}`);
}

export function ocijailTool(ctx: ToolContext, args: string[], hooks: OcijailHooks): ToolOutput {
  const cli = parseOcijail(args);
  const st = ctx.st;
  const id = cli.positionals[0] ?? '';
  const key = `${cli.root}/${id}`;
  const c = st.containers[key];
  const notFound = () => fail(ctx, cli, `container ${id} not found`);
  switch (cli.sub) {
    case 'create':
      return ocijailCreate(ctx, cli, id, key, hooks);
    case 'start': {
      if (!c) notFound();
      if (c!.status !== 'created')
        fail(ctx, cli, `start: container not in "created" state (currently "${c!.status}")`);
      c!.status = 'running';
      const p = st.processes[String(c!.pid)];
      if (p) p.state = 'running';
      const code = hooks.exitOnStart(c!, p?.argv ?? []);
      if (code !== undefined) endContainer(ctx, c!, code);
      return ok();
    }
    case 'state': {
      if (!c) notFound();
      return ok(stateJson(c!));
    }
    case 'kill': {
      const sig = cli.positionals[1];
      let signum = 15;
      if (sig !== undefined) {
        const n = uint(sig);
        signum = n ?? SIGNALS[sig] ?? 0;
        if (!signum || !signalName(signum)) fail(ctx, cli, `Unknown signal name ${sig}`);
      }
      if (!c) notFound();
      if (c!.status === 'created' || c!.status === 'running') {
        const name = signalName(signum)!;
        const ignored = c!.ignoreSignals ?? hooks.ignoreSignals(c!, st.processes[String(c!.pid)]?.argv ?? []);
        if (signum === 9 || (!NON_FATAL_SIGNALS.has(name) && !ignored.includes(name)))
          endContainer(ctx, c!, 128 + signum);
      }
      return ok();
    }
    case 'delete': {
      if (!c) return ok();
      if (c.status === 'running' && !cli.opts.has('--force'))
        fail(ctx, cli, `delete: container not in "stopped" or "created" state (currently "running")`);
      if (c.status !== 'stopped') endContainer(ctx, c, 137);
      const j = st.jails[String(c.jid)];
      if (j) removeJail(ctx, j);
      for (const target of [...c.mounts].reverse()) {
        const m = [...st.mounts].reverse().find((x) => x.target === target && x.by === c.id);
        if (m) {
          const err = unmountEntry(st, m, true);
          if (err) fail(ctx, cli, `unmounting ${target}: Device busy`);
        }
      }
      st.paths = st.paths.filter((p) => !c.createdPaths.includes(p));
      delete st.containers[key];
      return ok();
    }
    case 'exec': {
      if (!c) notFound();
      const spec = cli.opts.get('--process');
      if (!spec || !ctx.isFile(spec)) cliError(`--process: File does not exist: ${spec ?? ''}`, 105);
      const proc = readJson(ctx, spec!) as { args?: unknown } | null | undefined;
      if (
        !proc ||
        !Array.isArray(proc.args) ||
        proc.args.length === 0 ||
        !proc.args.every((a) => typeof a === 'string')
      )
        fail(ctx, cli, 'create: malformed config: process.args must be an array of strings');
      const j = st.jails[String(c!.jid)];
      if (!j) fail(ctx, cli, 'error calling jail_get: jail not found');
      const argv = proc!.args as string[];
      if (cli.opts.has('--detach')) {
        const pid = hooks.allocPid();
        st.processes[String(pid)] = { pid, jid: j!.jid, argv, state: 'running' };
        const pf = cli.opts.get('--pid-file');
        if (pf) ctx.effects.push(() => writeFileSync(pf, String(pid)));
        return ok();
      }
      const a = ctx.exec({ jail: j!.name, jid: j!.jid, argv, process: proc });
      return { code: a.code, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
    }
    case 'list': {
      const mine = Object.values(st.containers)
        .filter((x) => x.root === cli.root)
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      if (cli.opts.get('--format') === 'json')
        return ok(
          JSON.stringify(
            mine.map((x) => ({
              bundle: x.bundle,
              id: x.id,
              pid: x.status === 'stopped' ? 0 : x.pid,
              status: x.status,
            })),
          ),
        );
      const w = Math.max(2, ...mine.map((x) => x.id.length));
      let out = `${'ID'.padEnd(w)} ${'PID'.padEnd(10)} ${'STATUS'.padEnd(8)} ${'BUNDLE'.padEnd(40)}\n`;
      for (const x of mine)
        out += `${x.id.padEnd(w)} ${String(x.status === 'stopped' ? 0 : x.pid).padEnd(10)} ${x.status.padEnd(8)} ${x.bundle.padEnd(40)}\n`;
      return ok(out);
    }
    default:
      return ok('{"ociVersionMin":"1.0.0","ociVersionMax":"1.2.0"}');
  }
}

/** `ocijail state` output: nlohmann::json dumps objects with sorted keys and no spaces. */
export function stateJson(c: ContainerState): string {
  const annotations = { ...c.annotations, 'org.freebsd.jail.jid': String(c.jid) };
  const sorted = Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => (a < b ? -1 : 1)));
  const report: Record<string, unknown> = {
    annotations: sorted,
    bundle: c.bundle,
    id: c.id,
    ociVersion: '1.0.2',
  };
  if (c.status !== 'stopped') report.pid = c.pid;
  report.status = c.status;
  return JSON.stringify(report);
}

function ocijailCreate(ctx: ToolContext, cli: Cli, id: string, key: string, hooks: OcijailHooks): ToolOutput {
  const st = ctx.st;
  const bundle = cli.opts.get('--bundle') ?? '.';
  // ocijail chdir()s into the bundle and then uses BUNDLE/root: a relative bundle resolves twice.
  if (!isAbsolute(bundle))
    fail(ctx, cli, `simulated host: --bundle ${bundle} is relative; ocijail needs an absolute bundle path`);
  if (!ctx.isDir(bundle)) cliError(`--bundle: Directory does not exist: ${bundle}`, 105);
  if (st.containers[key]) fail(ctx, cli, `container ${id} exists`);
  const config = readJson(ctx, join(bundle, 'config.json'));
  if (config === undefined) fail(ctx, cli, 'create: bundle directory must contain config.json');
  if (config === null || typeof config !== 'object')
    fail(ctx, cli, 'create: malformed config: not a JSON object');
  const cfg = config as Record<string, unknown>;
  if (!('ociVersion' in cfg)) fail(ctx, cli, 'create: malformed config: no ociVersion');
  if (typeof cfg.ociVersion !== 'string')
    fail(ctx, cli, 'create: malformed config: ociVersion must be a string');
  const ver = /^(\d+)\.(\d+)\.(\d+)(-(rc\.\S*|dev))?$/.exec(cfg.ociVersion as string);
  if (!ver) fail(ctx, cli, `malformed ociVersion ${cfg.ociVersion}`);
  if (ver![1] !== '1' || !['0', '1', '2'].includes(ver![2]!))
    fail(ctx, cli, `create: unsupported OCI version ${cfg.ociVersion}`);
  const proc = cfg.process as Record<string, unknown> | undefined;
  if (!proc) fail(ctx, cli, 'create: malformed config: no process');
  if (
    !Array.isArray(proc!.args) ||
    proc!.args.length === 0 ||
    !proc!.args.every((a) => typeof a === 'string')
  )
    fail(ctx, cli, 'create: malformed config: process.args must be an array of strings');
  if (
    proc!.env !== undefined &&
    (!Array.isArray(proc!.env) || !proc!.env.every((a) => typeof a === 'string'))
  )
    fail(ctx, cli, 'create: malformed config: process.env must be an array of strings');
  if (proc!.terminal === true && !cli.opts.has('--console-socket'))
    fail(ctx, cli, '--console-socket is required when detached if process.terminal is true');
  if (proc!.terminal !== true && cli.opts.has('--console-socket'))
    fail(ctx, cli, '--console-socket provided but process.terminal is false');
  const rootCfg = cfg.root as { path?: string; readonly?: boolean } | undefined;
  let rootPath = join(bundle, 'root');
  if (rootCfg?.path) rootPath = isAbsolute(rootCfg.path) ? rootCfg.path : join(bundle, rootCfg.path);
  if (!ctx.isDir(rootPath)) fail(ctx, cli, `root directory "${rootPath}" must be a directory`);
  const mounts = cfg.mounts;
  if (mounts !== undefined && mounts !== null) {
    if (!Array.isArray(mounts)) fail(ctx, cli, 'create: malformed config: mounts must be an array');
    for (const m of mounts as unknown[]) {
      if (!m || typeof m !== 'object')
        fail(ctx, cli, 'create: malformed config: mounts must be an array of objects');
      const mm = m as Record<string, unknown>;
      if (typeof mm.destination !== 'string')
        fail(ctx, cli, 'create: malformed config: mount destination must be a string');
      if ('source' in mm && typeof mm.source !== 'string')
        fail(ctx, cli, 'create: malformed config: if present, mount source must be a string');
      if ('type' in mm && typeof mm.type !== 'string')
        fail(ctx, cli, 'create: malformed config: if present, mount type must be a string');
      if ('options' in mm && (!Array.isArray(mm.options) || !mm.options.every((o) => typeof o === 'string')))
        fail(ctx, cli, 'create: malformed config: if present, mount options must be an array of strings');
    }
  }
  const annotations: Record<string, string> = {};
  const rawAnn = cfg.annotations;
  if (rawAnn && typeof rawAnn === 'object')
    for (const [k, v] of Object.entries(rawAnn)) if (typeof v === 'string') annotations[k] = v;
  const ns: Record<string, string | undefined> = {};
  for (const k of ['vnet', 'sysvmsg', 'sysvsem', 'sysvshm']) {
    const v = annotations[`org.freebsd.jail.${k}`];
    if (v === undefined) continue;
    if (!['new', 'inherit', 'disable'].includes(v))
      fail(ctx, cli, `bad value for org.freebsd.jail.${k}: ${v}`);
    ns[k] = v;
  }
  const vnet = ns.vnet ?? 'inherit';
  if (vnet === 'disable') fail(ctx, cli, 'bad value for org.freebsd.jail.vnet: disable');
  let allowChflags = true;
  const parent = annotations['org.freebsd.parentJail'];
  if (parent !== undefined) {
    const pj = findJail(st, parent);
    if (!pj) fail(ctx, cli, `error calling jail_get: jail "${parent}" not found`);
    allowChflags = pj!.params['allow.chflags'] === true;
  }
  const jailName = parent !== undefined ? `${parent}.${id}` : id;
  if (Object.values(st.jails).some((j) => j.name === jailName))
    fail(ctx, cli, `error calling jail_set: jail "${jailName}" already exists`);
  const params: string[] = [`name=${jailName}`, 'persist', 'enforce_statfs=1', 'allow.raw_sockets'];
  if (allowChflags) params.push('allow.chflags');
  for (const k of ['sysvmsg', 'sysvsem', 'sysvshm']) if (ns[k]) params.push(`${k}=${ns[k]}`);
  for (const [k, v] of Object.entries(annotations)) {
    if (!k.startsWith('org.freebsd.jail.allow.')) continue;
    const p = `allow.${k.slice('org.freebsd.jail.allow.'.length)}`;
    if (ALLOW_PARAMS.includes(p) && p !== 'allow.vmm' && (v === 'true' || v === '1')) params.push(p);
  }
  params.push(`path=${rootCfg?.readonly ? join(cli.root, id, 'readonly_root') : rootPath}`);
  if (vnet === 'new') params.push('vnet=new');
  else {
    const ip4 = annotations['org.freebsd.jail.ip4.addr'];
    const ip6 = annotations['org.freebsd.jail.ip6.addr'] ?? annotations['org.freebsd.jail.ip6.add'];
    params.push('ip4=inherit');
    if (ip4 !== undefined) params.push(`ip4.addr=${ip4.split(',').filter(Boolean).join(',')}`);
    params.push('ip6=inherit');
    if (ip6 !== undefined) params.push(`ip6.addr=${ip6.split(',').filter(Boolean).join(',')}`);
  }
  if (typeof cfg.hostname === 'string') params.push(`host.hostname=${cfg.hostname}`, 'host=new');
  else params.push('host=inherit');

  const c: ContainerState = {
    id,
    root: cli.root,
    bundle,
    status: 'created',
    pid: 0,
    jid: 0,
    jailName,
    mounts: [],
    createdPaths: [],
    annotations,
  };
  // Mounts from config.json, in order; a failure unmounts what was mounted (the whole command
  // is rolled back by the host, as ocijail's own cleanup does).
  const mountRoot = rootPath;
  for (const m of (Array.isArray(mounts) ? mounts : []) as {
    destination: string;
    source?: string;
    type?: string;
    options?: string[];
  }[]) {
    let type = m.type ?? 'nullfs';
    if (type === 'bind') type = 'nullfs';
    const dest = resolveInRoot(mountRoot, m.destination);
    const source = m.source ?? type;
    const isFileMount = type === 'nullfs' && ctx.isFile(source);
    if (ctx.isDir(dest) || ctx.isFile(dest)) {
      if (isFileMount && !ctx.isFile(dest))
        fail(ctx, cli, 'destination for file mount exists and is not a file');
      if (!isFileMount && !ctx.isDir(dest))
        fail(ctx, cli, 'destination for non-file mount exists and is not a directory');
    } else if (!st.paths.includes(dest)) {
      st.paths.push(dest);
      c.createdPaths.push(dest);
    }
    const opts: string[] = [];
    let ruleset: number | undefined;
    for (const o of m.options ?? []) {
      const [k, v] = o.split(/=(.*)/s) as [string, string | undefined];
      // ocijail turns the names of its flag table into mount flags (Linux-only ones such as
      // rbind, rprivate, bind, private, nodev into nothing) and passes every other option to
      // nmount(2), where nullfs refuses what it does not know (EINVAL): e.g. shared, slave
      if (type === 'nullfs' && !OCIJAIL_FLAG_OPTIONS.has(k) && !NULLFS_OPTIONS.has(k))
        fail(ctx, cli, `mounting ${JSON.stringify(m)}: Invalid argument`);
      if (type === 'devfs' && k === 'rule') {
        parseRuleSpec((v ?? '').split(' ').filter(Boolean), 'devfs rule');
        opts.push(o);
        continue;
      }
      if (type === 'devfs' && k === 'ruleset') {
        const n = uint(v);
        if (n === undefined || n > 65535) fail(ctx, cli, `mounting ${JSON.stringify(m)}: Invalid argument`);
        ruleset = n;
      }
      opts.push(o);
    }
    if (type === 'nullfs' && !ctx.isDir(source) && !ctx.isFile(source))
      fail(ctx, cli, `mounting ${JSON.stringify(m)}: No such file or directory`);
    if (
      ![
        'nullfs',
        'devfs',
        'tmpfs',
        'fdescfs',
        'procfs',
        'unionfs',
        'nfs',
        'linprocfs',
        'linsysfs',
        'mqueuefs',
      ].includes(type)
    )
      fail(ctx, cli, `mounting ${JSON.stringify(m)}: Operation not supported by device`);
    st.mounts.push({
      fstype: type,
      source,
      target: dest,
      options: opts,
      ...(type === 'devfs' ? { ruleset: ruleset ?? 0 } : {}),
      by: id,
    });
    c.mounts.push(dest);
  }
  // jail_set(JAIL_CREATE) through the simulated jail(8) parameter checks.
  const res = hooks.createJail(params);
  if (res.code !== 0) fail(ctx, cli, `error calling jail_set: ${res.stderr.replace(/^jail: /, '').trim()}`);
  const j = Object.values(st.jails).find((x) => x.name === jailName)!;
  // Process validation (proc.validate in the child, after jail_attach).
  const argv = proc!.args as string[];
  const env = (proc!.env as string[] | undefined) ?? [];
  const cmd = argv[0]!;
  if (cmd.startsWith('/')) {
    const p = resolveInRoot(rootPath, cmd);
    if (!ctx.isFile(p))
      fail(ctx, cli, `${cmd}: ${ctx.isDir(p) ? 'Permission denied' : 'No such file or directory'}`);
  } else {
    const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5);
    const cwd = typeof proc!.cwd === 'string' ? proc!.cwd : '/';
    const found =
      (pathVar ? pathVar.split(':') : []).some((d) => ctx.isFile(resolveInRoot(rootPath, `${d}/${cmd}`))) ||
      ctx.isFile(resolveInRoot(rootPath, `${cwd}/${cmd}`));
    if (!found) fail(ctx, cli, `'${cmd}' not found in $PATH: No such file or directory`);
  }
  const pid = hooks.allocPid();
  const p: ProcessState = { pid, jid: j.jid, argv, state: 'created', container: id };
  st.processes[String(pid)] = p;
  c.pid = pid;
  c.jid = j.jid;
  st.containers[key] = c;
  const pf = cli.opts.get('--pid-file');
  if (pf) ctx.effects.push(() => writeFileSync(pf, String(pid)));
  return ok();
}

export function containerByKey(st: HostState, idOrJid: string | number): ContainerState | undefined {
  const all = Object.values(st.containers);
  if (typeof idOrJid === 'number') return all.find((c) => c.jid === idOrJid);
  return all.find((c) => c.id === idOrJid) ?? all.find((c) => c.jailName === idOrJid);
}
