/**
 * What every simulated tool shares: the context a command runs in, the way it ends (an exit
 * status with stdout and stderr, as the real tool would print them), and BSD getopt(3).
 *
 * A tool handler mutates `ctx.st`, a working copy of the host state. The host commits the copy
 * when the handler returns status 0 and throws it away otherwise, unless the handler sets
 * `ctx.keepOnFailure` (real tools that stop half way, like `devfs rule add -` on its 3rd line).
 * Writes to the real filesystem (pid files, exit files, logs) are queued in `ctx.effects` and run
 * only after the commit.
 */
import type { HostState } from './host-state.ts';

export interface ToolOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Thrown by a handler to end the command the way the real tool exits. */
export class ToolExit extends Error {
  readonly code: number;
  readonly stderr: string;
  readonly stdout: string;
  constructor(code: number, stderr: string, stdout = '') {
    super(stderr);
    this.code = code;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}

export interface ExecRequest {
  /** Where the command runs: a jail's name, or undefined for the host. */
  jail?: string;
  jid?: number;
  argv: string[];
  /** `ocijail exec`: the process spec read from --process. */
  process?: unknown;
}

export interface ExecAnswer {
  code: number;
  stdout?: string;
  stderr?: string;
}

export interface ToolContext {
  st: HostState;
  stdin: Buffer;
  /** Real-filesystem side effects, run in order after the state is committed. */
  effects: (() => void)[];
  keepOnFailure: boolean;
  /** An absolute path: `path` resolved against the command's working directory. */
  abs(path: string): string;
  /** Whether a path is a directory on the simulated host (simulated paths, mounts, real fs). */
  isDir(path: string): boolean;
  isFile(path: string): boolean;
  /** Reads a real file (bundles, process specs, pf rule files). */
  readFile(path: string): Buffer | undefined;
  /** Answers commands run inside jails (jexec, ocijail exec). */
  exec(req: ExecRequest): ExecAnswer;
  now(): number;
  /** Whether the simulator may create or copy into this real path (HostConfig.writable). */
  canWrite(path: string): boolean;
  /** Real directory where snapshot contents are kept (HostConfig.contentDir), if any. */
  contentDir: string | undefined;
}

export type ToolHandler = (ctx: ToolContext, args: string[]) => ToolOutput;

export const ok = (stdout = '', stderr = ''): ToolOutput => ({ code: 0, stdout, stderr });

export function die(stderr: string, code = 1, stdout = ''): never {
  throw new ToolExit(code, stderr.endsWith('\n') || stderr === '' ? stderr : `${stderr}\n`, stdout);
}

export interface GetoptResult {
  opts: [string, string | undefined][];
  rest: string[];
}

/**
 * BSD getopt(3): options come before operands (parsing stops at the first operand or `--`),
 * `x:` takes an argument (attached `-xVAL` or next word), flags cluster (`-rf`).
 * On an unknown option or a missing argument it calls `onError` with getopt's own message.
 */
export function getopt(
  args: readonly string[],
  spec: string,
  prog: string,
  usage: string,
  longOpts: Record<string, boolean> = {},
): GetoptResult {
  const takes = new Map<string, boolean>();
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c === ':') continue;
    takes.set(c, spec[i + 1] === ':');
  }
  const opts: [string, string | undefined][] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const [name, val] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      if (!(name in longOpts)) die(`${prog}: unrecognized option \`${a}'\n${usage}`);
      if (longOpts[name]) {
        if (val !== undefined) opts.push([`--${name}`, val]);
        else if (i + 1 < args.length) opts.push([`--${name}`, args[++i]!]);
        else die(`${prog}: option \`${a}' requires an argument\n${usage}`);
      } else opts.push([`--${name}`, undefined]);
      continue;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      if (!takes.has(c)) die(`${prog}: illegal option -- ${c}\n${usage}`);
      if (takes.get(c)) {
        if (j + 1 < a.length) opts.push([c, a.slice(j + 1)]);
        else if (i + 1 < args.length) opts.push([c, args[++i]!]);
        else die(`${prog}: option requires an argument -- ${c}\n${usage}`);
        break;
      }
      opts.push([c, undefined]);
    }
  }
  return { opts, rest: args.slice(i) };
}

export function has(r: GetoptResult, o: string): boolean {
  return r.opts.some(([k]) => k === o);
}

export function optVal(r: GetoptResult, o: string): string | undefined {
  let v: string | undefined;
  for (const [k, val] of r.opts) if (k === o) v = val;
  return v;
}

export function optVals(r: GetoptResult, o: string): string[] {
  return r.opts.filter(([k]) => k === o).map(([, v]) => v ?? '');
}

/** Parses a strictly decimal unsigned integer, or undefined. */
export function uint(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function normPath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join('/')}`;
}

export function isUnder(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

export const SIGNALS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  EMT: 7,
  FPE: 8,
  KILL: 9,
  BUS: 10,
  SEGV: 11,
  SYS: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  URG: 16,
  STOP: 17,
  TSTP: 18,
  CONT: 19,
  CHLD: 20,
  TTIN: 21,
  TTOU: 22,
  IO: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  INFO: 29,
  USR1: 30,
  USR2: 31,
};

/** Signals whose default action does not end the process. */
export const NON_FATAL_SIGNALS = new Set([
  'URG',
  'STOP',
  'TSTP',
  'CONT',
  'CHLD',
  'TTIN',
  'TTOU',
  'IO',
  'WINCH',
  'INFO',
]);

export function signalName(n: number): string | undefined {
  return Object.entries(SIGNALS).find(([, v]) => v === n)?.[0];
}
