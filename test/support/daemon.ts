/**
 * Starts the BUILT daemon (dist/brigd.mjs) with a temporary root, socket and configuration, and
 * runs the built CLI (dist/brig.cjs, the installed entry) against it. `npm test` builds first; run `npm run build`
 * before running e2e tests by hand.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { BrigClient } from '../../src/client/client.ts';
import { busyboxImage } from './busybox.ts';

export const PROJECT = resolve(import.meta.dirname, '../..');
export const BRIG = join(PROJECT, 'dist/brig.cjs');
export const BRIGD = join(PROJECT, 'dist/brigd.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestDaemon {
  root: string;
  socket: string;
  configFile: string;
  dir: string;
  client: BrigClient;
  process: ChildProcess;
  logs(): string;
  brig(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<CliResult>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts brigd again on the same root, socket and configuration. */
  restart(): Promise<void>;
}

/** The environment for node children: no NODE_EXTRA_CA_CERTS (costs ~60 ms per start). */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** What `child` (stdout and stderr piped) writes until it closes, and its exit code (-1 if killed). */
export function outputOf(child: ChildProcess): Promise<CliResult> {
  return new Promise((res, rej) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b) => (stdout += b));
    child.stderr!.on('data', (b) => (stderr += b));
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

export function runBrig(
  socket: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [BRIG, '--host', `unix://${socket}`, ...args], {
    env: childEnv(opts.env),
    cwd: opts.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const result = outputOf(child);
  child.stdin.end(opts.input ?? '');
  return result;
}

async function waitForSocket(client: BrigClient, child: ChildProcess, logs: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`brigd exited with ${child.exitCode}:\n${logs()}`);
    try {
      await client.request('GET', '/_ping');
      return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`brigd did not answer within 30 s:\n${logs()}`);
}

export async function startDaemon(
  t: TestContext,
  opts: { config?: string | object; platform?: string; args?: string[]; keepRoot?: boolean } = {},
): Promise<TestDaemon> {
  if (!existsSync(BRIGD)) throw new Error('dist/brigd.mjs missing: run `npm run build` first');
  const dir = mkdtempSync(join(process.env.BRIG_TEST_TMP ?? tmpdir(), 'brig-e2e-'));
  const root = join(dir, 'root');
  const socket = join(dir, 'brig.sock');
  const configFile = join(dir, 'brig.yaml');
  writeFileSync(
    configFile,
    typeof opts.config === 'string' ? opts.config : JSON.stringify(opts.config ?? {}),
  );
  const client = new BrigClient(socket);
  let log = '';
  let child!: ChildProcess;
  const spawnIt = async () => {
    child = spawn(
      process.execPath,
      [
        '--enable-source-maps',
        BRIGD,
        '--root',
        root,
        '--socket',
        socket,
        '--config',
        configFile,
        ...(opts.platform ? ['--platform', opts.platform] : []),
        ...(opts.args ?? []),
      ],
      { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: false },
    );
    child.stdout!.on('data', (b) => (log += b));
    child.stderr!.on('data', (b) => (log += b));
    await waitForSocket(client, child, () => log);
  };
  await spawnIt();
  const d: TestDaemon = {
    root,
    socket,
    configFile,
    dir,
    client,
    get process() {
      return child;
    },
    logs: () => log,
    brig: (args, o) => runBrig(socket, args, o),
    stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
      return new Promise((res) => {
        child.once('exit', (code) => res(code));
        child.kill(signal);
      });
    },
    restart: spawnIt,
  };
  t.after(async () => {
    await d.stop();
    if (!opts.keepRoot) rmSync(dir, { recursive: true, force: true });
  });
  return d;
}

/** Every event `d` has recorded so far, as `brig events --json` prints them (the command must succeed). */
export async function pastEvents(d: TestDaemon): Promise<string> {
  const until = String(Math.ceil(Date.now() / 1000) + 1);
  const r = await d.brig(['events', '--since', '0', '--until', until, '--json']);
  if (r.code !== 0) throw new Error(`brig events exited with ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A brigd with busybox:latest imported (the layout test/support/busybox.ts builds offline). */
export async function busyboxDaemon(t: TestContext): Promise<TestDaemon> {
  const d = await startDaemon(t);
  const r = await d.brig(['image', 'import', busyboxImage().layout, 'busybox:latest']);
  if (r.code !== 0) throw new Error(`importing busybox: ${r.stderr}`);
  return d;
}

/** Removes every container of `d`; register it after the daemon (t.after hooks run in order). */
export async function removeAllContainers(d: TestDaemon): Promise<void> {
  const ps = await d.brig(['ps', '-a', '-q']);
  for (const id of ps.stdout.split('\n').filter(Boolean)) await d.brig(['rm', '-f', id]);
}
