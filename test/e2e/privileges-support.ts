/**
 * Helpers for the privileges e2e tests: an OCI layout of the busybox fixture whose config carries
 * a `brig` section (config blob edited and re-hashed, manifest and index rewritten) and its
 * import, a container run to its exit through the API (exit code and logs), and a temporary
 * non-root user to run the CLI as.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { busyboxImage } from '../support/busybox.ts';
import { BRIG, type CliResult, childEnv, outputOf, type TestDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

function putBlob(layout: string, bytes: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(layout, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

/** A copy of the busybox layout with `brig` set in its config (tag `latest`). */
export function layoutWithBrig(
  t: TestContext,
  brig: unknown,
  patch: (config: Record<string, unknown>) => void = () => {},
): string {
  const layout = join(tempDir(t), 'layout');
  cpSync(busyboxImage().layout, layout, { recursive: true });
  const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.replace('sha256:', '')));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string; size: number }>;
  };
  const mdesc = index.manifests[0]!;
  const manifest = JSON.parse(blob(mdesc.digest).toString()) as { config: { digest: string; size: number } };
  const config = JSON.parse(blob(manifest.config.digest).toString()) as Record<string, unknown>;
  config.brig = brig;
  patch(config);
  Object.assign(manifest.config, putBlob(layout, Buffer.from(JSON.stringify(config))));
  Object.assign(mdesc, putBlob(layout, Buffer.from(JSON.stringify(manifest))));
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  return layout;
}

/** Imports the busybox fixture as `name`, its config's `brig` section `{ version: 1, privileges, ...more }`. */
export async function importPrivileged(
  t: TestContext,
  d: TestDaemon,
  name: string,
  privileges: unknown,
  more: Record<string, unknown> = {},
): Promise<void> {
  const r = await d.brig(['image', 'import', layoutWithBrig(t, { version: 1, privileges, ...more }), name]);
  assert.equal(r.code, 0, r.stderr);
}

/** Creates a container of `body`, starts it, waits for its exit, reads its logs and removes it. */
export async function runToExit(
  d: TestDaemon,
  body: Record<string, unknown>,
): Promise<{ exitCode: number; out: string }> {
  const c = await d.client.request<{ id: string }>('POST', '/containers', { body });
  await d.client.request('POST', `/containers/${c.id}/start`);
  const { exitCode } = await d.client.request<{ exitCode: number }>('POST', `/containers/${c.id}/wait`);
  let out = '';
  for await (const l of d.client.lines<{ text: string; partial: boolean }>('GET', `/containers/${c.id}/logs`))
    out += l.partial ? l.text : `${l.text}\n`;
  await d.client.request('DELETE', `/containers/${c.id}`, { query: { force: '1' } });
  return { exitCode, out };
}

/** `sh -c script` run to its exit in a new container of `image` (`extra`: more of the create body). */
export const runSh = (d: TestDaemon, image: string, script: string, extra: Record<string, unknown> = {}) =>
  runToExit(d, { image, command: ['sh', '-c', script], ...extra });

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  /** Groups created for the test, by role. */
  groups: Record<string, string>;
  brig(socket: string, args: string[]): Promise<CliResult>;
  /** GET (or POST `body`) `path` on the API as this user: the HTTP status and the parsed body. */
  get(
    socket: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: { error?: { code: string } } }>;
}

const GET_SCRIPT = `
const http = require('node:http');
const body = process.argv[3];
const req = http.request({ socketPath: process.argv[1], path: process.argv[2], method: body ? 'POST' : 'GET', headers: { 'content-type': 'application/json' } }, (res) => {
  let b = '';
  res.on('data', (c) => (b += c));
  res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, body: JSON.parse(b) })));
});
req.on('error', (e) => { process.stderr.write(String(e)); process.exit(2); });
req.end(body);
`;

/** A user (and groups `sock`, `adm`, ...) removed after the test. */
export function makeUser(t: TestContext, groupRoles: string[], memberOf: string[]): TestUser {
  const tag = randomBytes(3).toString('hex');
  const groups: Record<string, string> = {};
  for (const role of groupRoles) {
    groups[role] = `brig${role}${tag}`;
    execFileSync('groupadd', [groups[role]!]);
  }
  const name = `brigu${tag}`;
  execFileSync('useradd', [
    '-M',
    '-N',
    '-g',
    'nogroup',
    '-G',
    memberOf.map((r) => groups[r]!).join(','),
    name,
  ]);
  t.after(() => {
    execFileSync('userdel', [name], { stdio: 'ignore' });
    for (const g of Object.values(groups)) execFileSync('groupdel', [g], { stdio: 'ignore' });
  });
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
  return {
    name,
    uid,
    gid,
    groups,
    get: async (socket, path, body) => {
      const r = await asUser([
        '-e',
        GET_SCRIPT,
        socket,
        path,
        ...(body === undefined ? [] : [JSON.stringify(body)]),
      ]);
      if (r.code !== 0) throw new Error(`request as ${name} failed: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    brig: (socket, args) => asUser([BRIG, '--host', `unix://${socket}`, ...args]),
  };
  function asUser(nodeArgs: string[]): Promise<CliResult> {
    return outputOf(
      spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', process.execPath, ...nodeArgs], {
        env: childEnv({ HOME: '/' }),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
  }
}
