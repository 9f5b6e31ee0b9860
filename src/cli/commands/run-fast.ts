/**
 * `brig run` without commander (loading it is ~8 ms of the CLI's start-up): a parser for the
 * common forms only. It returns undefined — and main.ts then uses commander — for anything it
 * does not know: --help, unknown or attached values (`-eA=1`), `--`, a value that starts with a
 * dash, short flags other than -d -i -t (and their groups such as -it). For what it accepts it
 * gives exactly what commander gives (run-fast.test.ts compares the two); the verb itself is
 * runAction of ./run.ts.
 */
import type { BrigClient } from '../../client/client.ts';
import type { CliContext } from '../context.ts';
import { reportError } from '../report.ts';
import { type RunFlags, runAction } from './run.ts';

/** Boolean flags: name → the option key. */
const BOOLEAN: Record<string, keyof RunFlags> = {
  '-d': 'detach',
  '--detach': 'detach',
  '--dry-run': 'dryRun',
  '--json': 'json',
  '--read-only': 'readOnly',
  '-i': 'interactive',
  '--interactive': 'interactive',
  '-t': 'tty',
  '--tty': 'tty',
  '--rm': 'rm',
};
/** Flags with a value: name → [key, repeatable]. */
const VALUE: Record<string, [keyof RunFlags, boolean]> = {
  '--name': ['name', false],
  '-e': ['env', true],
  '--env': ['env', true],
  '--env-file': ['envFile', true],
  '-w': ['workdir', false],
  '--workdir': ['workdir', false],
  '-u': ['user', false],
  '--user': ['user', false],
  '--entrypoint': ['entrypoint', false],
  '-v': ['volume', true],
  '--volume': ['volume', true],
  '--mount': ['mount', true],
  '--tmpfs': ['tmpfs', true],
  '--hostname': ['hostname', false],
  '-m': ['memory', false],
  '--memory': ['memory', false],
  '--cpus': ['cpus', false],
  '--pids-limit': ['pidsLimit', false],
  '--restart': ['restart', false],
  '--stop-signal': ['stopSignal', false],
  '--stop-timeout': ['stopTimeout', false],
  '-l': ['label', true],
  '--label': ['label', true],
  '--grant': ['grant', true],
};

export interface FastRun {
  host?: string;
  image: string;
  command: string[];
  flags: RunFlags;
}

/** `args`: process.argv without node and the script. */
export function parseRun(args: readonly string[]): FastRun | undefined {
  let i = 0;
  let host: string | undefined;
  for (; i < args.length && args[i] !== 'run'; i++) {
    const a = args[i]!;
    if ((a === '-H' || a === '--host') && i + 1 < args.length && !args[i + 1]!.startsWith('-'))
      host = args[++i];
    else if (a.startsWith('--host=')) host = a.slice('--host='.length);
    else return undefined;
  }
  if (args[i] !== 'run') return undefined;
  const flags: Record<string, unknown> = {
    env: [],
    envFile: [],
    volume: [],
    mount: [],
    tmpfs: [],
    label: [],
    grant: [],
    restart: 'no',
  };
  for (i++; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-') || a === '-') break;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const bool = BOOLEAN[name];
    if (bool && eq < 0) {
      flags[bool] = true;
      continue;
    }
    const val = VALUE[name];
    if (val) {
      let v: string;
      if (eq > 0) v = a.slice(eq + 1);
      else {
        const next = args[i + 1];
        if (next === undefined || next.startsWith('-')) return undefined;
        v = next;
        i++;
      }
      const [key, repeatable] = val;
      flags[key] = repeatable ? [...(flags[key] as string[]), v] : v;
      continue;
    }
    // a group of -d -i -t (-it, -dit)
    if (/^-[dit]{2,}$/.test(a)) {
      for (const c of a.slice(1)) flags[BOOLEAN[`-${c}`]!] = true;
      continue;
    }
    return undefined;
  }
  if (i >= args.length) return undefined;
  return {
    ...(host !== undefined ? { host } : {}),
    image: args[i]!,
    command: args.slice(i + 1),
    flags: flags as unknown as RunFlags,
  };
}

/**
 * Runs `brig run` when parseRun accepts the arguments; undefined otherwise. node:http and brig's
 * client are loaded only for the forms that use them (-d, --dry-run): the attached run is one
 * request on a plain socket (./run-stream.ts).
 */
export function runFast(args: readonly string[]): Promise<number> | undefined {
  const p = parseRun(args);
  if (!p) return undefined;
  const host = p.host ?? process.env.BRIG_HOST;
  const run = async (): Promise<number> => {
    const needsClient = p.flags.detach === true || p.flags.dryRun === true;
    const mod = needsClient || !plainHost(host) ? await import('../../client/client.ts') : undefined;
    // (as the client does: an unusable --host fails when the request is about to be sent)
    const socketPath = () => (mod ? mod.socketFromHost(host) : plainHost(host)!);
    let client: BrigClient | undefined;
    const ctx: CliContext = {
      client() {
        client ??= new mod!.BrigClient(socketPath());
        return client;
      },
      socketPath,
      exitCode: 0,
    };
    await runAction(ctx, p.image, p.command, p.flags);
    return ctx.exitCode;
  };
  return run().catch((e: unknown) => reportError(e));
}

/** The socket path of `host` as socketFromHost (src/client/client.ts) reads it; undefined for anything it refuses. */
function plainHost(host: string | undefined): string | undefined {
  if (!host) return '/var/run/brig.sock';
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  return undefined;
}
