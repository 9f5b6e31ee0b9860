/**
 * The flags `brig run` and `brig create` share, and their translation into the create body.
 * Parsing of values the daemon also validates (sizes, restart policies) happens here so that a
 * typo fails before anything is sent; the daemon validates again for other clients.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CreateBody } from '../../client/containers.ts';
import { parseRestartPolicy, parseSize } from '../../containers/container.ts';
import { BrigError } from '../../errors/errors.ts';

/**
 * commander's collector for repeatable options (-e A -e B), as ../context.ts's `collect`: not
 * imported from there, because context.ts loads brig's client and node:http, which the fast run
 * path (./run-fast.ts, ./run-stream.ts) does without.
 */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export interface CreateFlags {
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  volume: string[];
  mount: string[];
  tmpfs: string[];
  readOnly?: boolean;
  hostname?: string;
  memory?: string;
  cpus?: string;
  pidsLimit?: string;
  restart?: string;
  stopSignal?: string;
  stopTimeout?: string;
  label: string[];
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  grant: string[];
}

export function addCreateFlags(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'name the container')
    .option(
      '-e, --env <NAME=VALUE>',
      'set an environment variable (repeatable; NAME alone passes yours)',
      collect,
      [],
    )
    .option('--env-file <file>', 'read NAME=VALUE lines from a file (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user (name or uid) and group to run as')
    .option('--entrypoint <cmd>', 'override the image entrypoint')
    .option('-v, --volume <spec>', 'bind mount or volume: [SRC:]DST[:ro] (repeatable)', collect, [])
    .option('--mount <spec>', 'type=bind|volume|tmpfs,... (repeatable)', collect, [])
    .option('--tmpfs <dst[:opts]>', 'mount a tmpfs (repeatable)', collect, [])
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--hostname <name>', 'container host name')
    .option('-m, --memory <size>', 'memory limit (e.g. 512m, 1g)')
    .option('--cpus <n>', 'CPU limit (e.g. 1.5)')
    .option('--pids-limit <n>', 'maximum number of processes')
    .option('--restart <policy>', 'no | on-failure[:N] | always | unless-stopped', 'no')
    .option('--stop-signal <signal>', 'signal to stop the container')
    .option('--stop-timeout <seconds>', 'seconds to wait before SIGKILL on stop')
    .option('-l, --label <key=value>', 'set a label (repeatable)', collect, [])
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a terminal')
    .option('--rm', 'remove the container when it exits')
    .option('--grant <privilege>', 'grant a privilege the image requests (repeatable)', collect, []);
}

function envFileLines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `cannot read --env-file ${path}: ${(e as Error).message}`);
  }
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
}

/** NAME alone takes the caller's value (and is dropped when unset), as docker does. */
function expandEnv(kv: string): string[] {
  if (kv.includes('=')) return [kv];
  const v = process.env[kv];
  return v === undefined ? [] : [`${kv}=${v}`];
}

function positiveNumber(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new BrigError('ERR_INVALID_ARGUMENT', `${flag} ${v}: expected a positive number`);
  return n;
}

export function createBody(image: string, command: string[], o: CreateFlags): CreateBody {
  const env = [...o.envFile.flatMap(envFileLines), ...o.env].flatMap(expandEnv);
  const labels: Record<string, string> = {};
  for (const kv of o.label) {
    const i = kv.indexOf('=');
    labels[i < 0 ? kv : kv.slice(0, i)] = i < 0 ? '' : kv.slice(i + 1);
  }
  if (!parseRestartPolicy(o.restart)) {
    throw new BrigError(
      'ERR_INVALID_ARGUMENT',
      `--restart ${o.restart}: expected no, on-failure[:N], always or unless-stopped`,
    );
  }
  let memory: number | undefined;
  if (o.memory !== undefined) {
    memory = parseSize(o.memory);
    if (!memory)
      throw new BrigError('ERR_INVALID_ARGUMENT', `--memory ${o.memory}: expected a size such as 512m or 1g`);
  }
  const pids = positiveNumber('--pids-limit', o.pidsLimit);
  if (pids !== undefined && !Number.isInteger(pids))
    throw new BrigError('ERR_INVALID_ARGUMENT', '--pids-limit must be an integer');
  const stopTimeout = o.stopTimeout !== undefined ? Number(o.stopTimeout) : undefined;
  if (stopTimeout !== undefined && !(stopTimeout >= 0)) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `--stop-timeout ${o.stopTimeout}: expected seconds`);
  }
  const cpus = positiveNumber('--cpus', o.cpus);
  return {
    image,
    command,
    env,
    tty: o.tty === true,
    stdin: o.interactive === true,
    readOnly: o.readOnly === true,
    autoRemove: o.rm === true,
    restart: o.restart ?? 'no',
    labels,
    mounts: [
      ...o.volume.map((value) => ({ kind: 'volume' as const, value })),
      ...o.mount.map((value) => ({ kind: 'mount' as const, value })),
      ...o.tmpfs.map((value) => ({ kind: 'tmpfs' as const, value })),
    ],
    ...(o.name ? { name: o.name } : {}),
    ...(o.workdir ? { workdir: o.workdir } : {}),
    ...(o.user ? { user: o.user } : {}),
    ...(o.entrypoint !== undefined ? { entrypoint: o.entrypoint } : {}),
    ...(o.hostname ? { hostname: o.hostname } : {}),
    ...(memory !== undefined ? { memory } : {}),
    ...(cpus !== undefined ? { cpus } : {}),
    ...(pids !== undefined ? { pidsLimit: pids } : {}),
    ...(o.stopSignal ? { stopSignal: o.stopSignal } : {}),
    ...(stopTimeout !== undefined ? { stopTimeout } : {}),
    ...(o.grant.length ? { grants: o.grant } : {}),
  };
}
