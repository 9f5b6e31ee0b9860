/**
 * OCI runtime bundle generation: the `config.json` of runtime-spec 1.0.2 for one container.
 *
 * The pure core (`resolveProcess`, `resolveUser`, `buildSpec`) takes values and returns values;
 * `writeBundle` is the only I/O. The OS-specific part (namespaces, cgroups, devices, masked paths,
 * default mounts, capabilities) comes from the Platform (`BundleSection`), so this file knows no OS.
 *
 * On disk, per container (`<root>/containers/<id>/`, owned by the containers service):
 *
 *   config.json      the spec written here
 *   rootfs/          mount point of the container's root filesystem (snapshot mounts)
 *   hostname hosts resolv.conf   files bind-mounted into the container, written here
 *   ctr.log          conmon's k8s-file log
 *   exit, oom        conmon's persist files (exit status; created on an OOM kill)
 *   attach ctl winsz conmon's attach socket and control fifos
 *
 * Process resolution (docker's rules plus the image's `brig` entry points):
 *   - `--entrypoint E`: args = [E, ...command]; the image's Entrypoint and Cmd are ignored.
 *   - a command whose first word names an entry point of the image's `brig` section (and has no
 *     '/'), or no command at all and the section has a `defaultEntrypoint`: that entry point's
 *     args (with ${VAR} replaced from the environment), then the rest of the command; its
 *     workdir, user and env apply unless given on the command line.
 *   - otherwise: image Entrypoint + (command, or the image Cmd when there is none).
 *   - nothing at all: ERR_NO_COMMAND.
 * Environment, later wins: PATH default, image Env, entry point env, parameter defaults,
 * HOSTNAME, HOME (from the user's passwd entry), TERM (with a terminal), then -e / --env-file.
 * A required parameter of the brig section that is still unset: ERR_PARAMETER_MISSING.
 */
import { constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { BrigError } from '../errors/errors.ts';
import type { ContainerConfig } from '../images/oci.ts';
import type { BundleSection, OciMount, Rlimit } from '../platform/platform.ts';
import { resolveInRoot } from './in-root.ts';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The parts of an image's `brig` section that decide how its process runs. */
export interface BrigRunSection {
  entrypoints?: Record<
    string,
    { args: string[]; workdir?: string; user?: string; env?: Record<string, string> }
  >;
  defaultEntrypoint?: string;
  parameters?: Record<string, { required?: boolean; default?: string }>;
}

export interface ProcessRequest {
  /** The command after the image name. */
  command: string[];
  entrypoint?: string;
  /** -e / --env-file, in order, already NAME=VALUE (a bare NAME takes brigd's value: resolved by the CLI). */
  env: string[];
  workdir?: string;
  user?: string;
  terminal: boolean;
  hostname: string;
}

export interface ResolvedProcess {
  args: string[];
  env: string[];
  cwd: string;
  /** user[:group] still to be resolved against the container's /etc/passwd and /etc/group. */
  user: string;
  /** The brig entry point used, if any. */
  entrypointName?: string;
}

function envName(kv: string): string {
  const i = kv.indexOf('=');
  return i < 0 ? kv : kv.slice(0, i);
}

/** Appends/overrides NAME=VALUE entries keeping first-seen order (later wins). */
export function mergeEnv(...lists: ReadonlyArray<readonly string[]>): string[] {
  const m = new Map<string, string>();
  for (const list of lists) for (const kv of list) if (kv.includes('=')) m.set(envName(kv), kv);
  return [...m.values()];
}

function substitute(arg: string, env: Map<string, string>): string {
  return arg.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, n: string) => env.get(n) ?? '');
}

export function resolveProcess(
  image: ContainerConfig,
  brig: BrigRunSection | undefined,
  req: ProcessRequest,
): ResolvedProcess {
  let entry:
    | { name: string; args: string[]; workdir?: string; user?: string; env?: Record<string, string> }
    | undefined;
  let rest = req.command;
  if (req.entrypoint === undefined && brig?.entrypoints) {
    const first = req.command[0];
    if (first !== undefined && !first.includes('/') && brig.entrypoints[first]) {
      entry = { name: first, ...brig.entrypoints[first]! };
      rest = req.command.slice(1);
    } else if (first === undefined && brig.defaultEntrypoint && brig.entrypoints[brig.defaultEntrypoint]) {
      entry = { name: brig.defaultEntrypoint, ...brig.entrypoints[brig.defaultEntrypoint]! };
    }
  }
  const paramDefaults: string[] = [];
  for (const [name, p] of Object.entries(brig?.parameters ?? {})) {
    if (p.default !== undefined) paramDefaults.push(`${name}=${p.default}`);
  }
  const entryEnv = Object.entries(entry?.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const env = mergeEnv(
    [DEFAULT_PATH],
    image.Env ?? [],
    entryEnv,
    paramDefaults,
    [`HOSTNAME=${req.hostname}`],
    req.terminal ? ['TERM=xterm'] : [],
    req.env,
  );
  const given = new Set([...(image.Env ?? []), ...entryEnv, ...paramDefaults, ...req.env].map(envName));
  const missing = Object.entries(brig?.parameters ?? {})
    .filter(([n, p]) => p.required && !given.has(n))
    .map(([n]) => n);
  if (missing.length) {
    throw new BrigError(
      'ERR_PARAMETER_MISSING',
      `the image requires parameter${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
      {
        details: { parameters: missing },
      },
    );
  }
  const envMap = new Map(env.map((kv) => [envName(kv), kv.slice(kv.indexOf('=') + 1)]));
  let args: string[];
  if (req.entrypoint !== undefined) {
    args = [...(req.entrypoint === '' ? [] : [req.entrypoint]), ...req.command];
  } else if (entry) {
    args = [...entry.args.map((a) => substitute(a, envMap)), ...rest];
  } else {
    args = [...(image.Entrypoint ?? []), ...(req.command.length ? req.command : (image.Cmd ?? []))];
  }
  if (args.length === 0)
    throw new BrigError('ERR_NO_COMMAND', 'no command: the image has no Entrypoint or Cmd');
  return {
    args,
    env,
    cwd: req.workdir || entry?.workdir || image.WorkingDir || '/',
    user: req.user || entry?.user || image.User || '0',
    ...(entry ? { entrypointName: entry.name } : {}),
  };
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' }));
}

function parseGroup(text: string): Array<{ name: string; gid: number; members: string[] }> {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
}

/**
 * Resolves `user[:group]` (names or numbers) against the container's /etc/passwd and /etc/group
 * texts (empty when the files are absent). A numeric uid absent from passwd is allowed (gid 0,
 * as docker does); an unknown name is ERR_USER_UNKNOWN.
 */
export function resolveUser(spec: string, passwd: string, group: string): ResolvedUser {
  const [u, g] = spec.split(':', 2) as [string, string | undefined];
  const users = parsePasswd(passwd);
  const groups = parseGroup(group);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    entry = users.find((e) => e.uid === uid);
  } else {
    entry = users.find((e) => e.name === u);
    if (!entry) throw new BrigError('ERR_USER_UNKNOWN', `user ${u} is not in the container's /etc/passwd`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const ge = groups.find((x) => x.name === g);
      if (!ge) throw new BrigError('ERR_USER_UNKNOWN', `group ${g} is not in the container's /etc/group`);
      gid = ge.gid;
    }
  }
  const additionalGids =
    g === undefined && entry
      ? groups.filter((x) => x.members.includes(entry!.name) && x.gid !== gid).map((x) => x.gid)
      : [];
  return { uid, gid, additionalGids, home: entry?.home ?? '/' };
}

/** brig's default rlimits (podman's), clamped by the platform to the host's hard limits. */
export const DEFAULT_RLIMITS: Rlimit[] = [
  { type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 },
  { type: 'RLIMIT_NPROC', soft: 4194304, hard: 4194304 },
];

export interface SpecInput {
  process: ResolvedProcess;
  user: ResolvedUser;
  terminal: boolean;
  hostname: string;
  readOnlyRoot: boolean;
  /** The user's mounts (volumes, binds, tmpfs) after the defaults and the /etc files. */
  mounts: OciMount[];
  /** Files the daemon wrote into the bundle, bind-mounted at these destinations. */
  etcFiles: Array<{ source: string; destination: string }>;
  rlimits: Rlimit[];
  oomScoreAdj?: number;
  annotations: Record<string, string>;
  section: BundleSection;
}

export type OciSpec = Record<string, unknown> & {
  ociVersion: string;
  process: Record<string, unknown> & { args: string[]; env: string[]; cwd: string; terminal: boolean };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  annotations: Record<string, string>;
};

/** The whole config.json (pure). */
export function buildSpec(s: SpecInput): OciSpec {
  const env = mergeEnv([`HOME=${s.user.home}`], s.process.env);
  // HOME from passwd unless the image or the command line set it
  const explicitHome = s.process.env.some((kv) => kv.startsWith('HOME='));
  const finalEnv = explicitHome ? s.process.env : env;
  const caps = s.section.capabilities;
  const user: Record<string, unknown> = { uid: s.user.uid, gid: s.user.gid };
  if (s.user.additionalGids.length) user.additionalGids = s.user.additionalGids;
  // Non-root users get no effective/permitted capabilities (docker's rule): only bounding.
  const root = s.user.uid === 0;
  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: s.terminal,
      user,
      args: s.process.args,
      env: finalEnv,
      cwd: s.process.cwd,
      capabilities: {
        bounding: caps,
        effective: root ? caps : [],
        permitted: root ? caps : [],
        inheritable: [],
      },
      rlimits: s.rlimits,
      noNewPrivileges: true,
      ...(s.oomScoreAdj !== undefined ? { oomScoreAdj: s.oomScoreAdj } : {}),
    },
    root: { path: 'rootfs', readonly: s.readOnlyRoot },
    hostname: s.hostname,
    mounts: [
      ...s.section.defaultMounts,
      ...s.etcFiles.map((f) => ({
        destination: f.destination,
        type: 'bind',
        source: f.source,
        options: ['rbind', 'rprivate', ...(s.readOnlyRoot ? ['ro'] : [])],
      })),
      ...s.mounts,
    ],
    annotations: { ...s.section.annotations, ...s.annotations },
    [s.section.section.key]: s.section.section.value,
  };
  return spec;
}

/** Writes hostname, hosts, resolv.conf into `dir` and returns their bind mounts. */
export async function writeEtcFiles(
  dir: string,
  hostname: string,
): Promise<Array<{ source: string; destination: string }>> {
  // synchronous: three small files in the bundle (brigd's own directory) and the host's
  // resolv.conf, on the start's critical path, where each asynchronous call is a thread-pool
  // round trip
  mkdirSync(dir, { recursive: true });
  const hosts = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `127.0.1.1\t${hostname}`,
    '',
  ].join('\n');
  // host networking: the host's resolvers are the container's
  let resolv = '';
  try {
    resolv = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {}
  if (!resolv.trim()) resolv = 'nameserver 127.0.0.1\n';
  writeFileSync(join(dir, 'hostname'), `${hostname}\n`);
  writeFileSync(join(dir, 'hosts'), hosts);
  writeFileSync(join(dir, 'resolv.conf'), resolv);
  return [
    { source: join(dir, 'hostname'), destination: '/etc/hostname' },
    { source: join(dir, 'hosts'), destination: '/etc/hosts' },
    { source: join(dir, 'resolv.conf'), destination: '/etc/resolv.conf' },
  ];
}

/** The largest /etc/passwd or /etc/group brigd reads from a container (bytes). */
export const USER_DB_MAX = 4 * 1024 * 1024;

/**
 * Reads the container's /etc/passwd and /etc/group. The image is untrusted, so each path is
 * resolved the container's way (a symlink's absolute target is taken inside `rootfs`, `..` stops
 * at it) and opened without following a last symlink and without blocking: a link to a host file
 * reads the container's file of that name, not the host's. A file that is absent or not a regular
 * file (a FIFO, a device, a directory) reads as empty, so a named user is then ERR_USER_UNKNOWN;
 * one larger than USER_DB_MAX is refused.
 */
export async function readUserDb(rootfs: string): Promise<{ passwd: string; group: string }> {
  const r = async (p: string): Promise<string> => {
    let fh: FileHandle | undefined;
    try {
      fh = await open(
        await resolveInRoot(rootfs, p),
        constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      );
      const st = await fh.stat();
      if (!st.isFile()) return '';
      if (st.size > USER_DB_MAX) {
        throw new BrigError('ERR_USER_UNKNOWN', `the container's /${p} is larger than ${USER_DB_MAX} bytes`, {
          hint: 'Run with a numeric --user UID[:GID], or fix the image.',
        });
      }
      const buf = Buffer.alloc(st.size);
      const { bytesRead } = await fh.read(buf, 0, st.size, 0);
      return buf.subarray(0, bytesRead).toString('utf8');
    } catch (e) {
      if (e instanceof BrigError) throw e;
      return '';
    } finally {
      await fh?.close();
    }
  };
  return { passwd: await r('etc/passwd'), group: await r('etc/group') };
}

export async function writeSpec(bundle: string, spec: OciSpec): Promise<void> {
  writeFileSync(join(bundle, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`);
}
