#!/usr/bin/env node
// Registry benchmark: brig vs skopeo, pull and push of the Debian fixture image against a local
// docker-registry (plain HTTP on 127.0.0.1), everything on a tmpfs mounted for the run.
//   node bench/registry.mjs [ROUNDS]         (root; results are printed, copy them to README.md)
// brig is measured as a user sees it: `brig pull` / `brig push` (dist/brig.cjs, built first) against
// a running brigd whose root is on the tmpfs; a pull lands in its content store without unpacking
// (and records the image). Between pull rounds the image is removed (`brig image rm`, whose GC
// deletes the blobs), untimed. skopeo: `skopeo copy docker://… oci:DIR` and back.
// NODE_EXTRA_CA_CERTS is removed from the children's environment (it costs ~60 ms per node start).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, Socket } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { checkBenchEnv, debianLayout, mountTmpfs } from './common.mjs';

const ROUNDS = Number(process.argv[2] ?? 5);
const PROJECT = resolve(import.meta.dirname, '..');
checkBenchEnv();
const LAYOUT = debianLayout();
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

execFileSync('npm', ['run', 'build'], { cwd: PROJECT, stdio: 'ignore' });
const BRIG = join(PROJECT, 'dist/brig.cjs'); // the installed `brig`
const BRIGD = join(PROJECT, 'dist/brigd.mjs');

const tmp = mountTmpfs('/tmp/brig-bench-registry-', '3g');
const registries = new Set();
const cleanup = () => {
  for (const p of registries) {
    try {
      p.kill('SIGTERM');
    } catch {}
  }
  spawnSync('umount', ['-l', tmp]);
  rmSync(tmp, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

async function freePort() {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
}

// A fresh, empty registry (new port, new storage): skopeo's blob-info cache then knows no
// repository to mount from, so both tools really upload.
let regN = 0;
async function startRegistry(fixedPort) {
  const port = fixedPort ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const dir = join(tmp, `reg${regN++}`);
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(
    join(dir, 'reg.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${host}\n`,
  );
  const proc = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'reg.yml')], { stdio: 'ignore' });
  registries.add(proc);
  for (let i = 0; ; i++) {
    const ok = await new Promise((r) => {
      const s = new Socket();
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
      s.connect(port, '127.0.0.1');
    });
    if (ok) break;
    if (i > 200) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    host,
    stop: () =>
      new Promise((r) => {
        proc.once('exit', r);
        proc.kill('SIGTERM');
        registries.delete(proc);
        rmSync(dir, { recursive: true, force: true });
      }),
  };
}

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}
const skopeo = (...a) => timed('skopeo', a);

// the registry and image both tools pull from
const seed = await startRegistry();
skopeo('copy', '--dest-tls-verify=false', `oci:${LAYOUT}:bookworm`, `docker://${seed.host}/seed/debian:1`);

// brigd on the tmpfs; the registries (new ports each time) are 127.0.0.1: list the range as insecure
// by writing the config after the ports are known is not possible, so every registry host used is
// listed up front from a pool of pre-picked ports
const ports = [];
for (let i = 0; i < 3 * ROUNDS; i++) ports.push(await freePort());
writeFileSync(
  join(tmp, 'brig.yaml'),
  `registries:\n  insecure: [${[seed.host, ...ports.map((p) => `127.0.0.1:${p}`)].map((h) => JSON.stringify(h)).join(', ')}]\n  extraAuthFiles: []\n`,
);
// two daemons: one holds the image to push, the other starts empty for the pulls
async function startBrigd(name) {
  const sock = join(tmp, `${name}.sock`);
  const d = spawn(
    process.execPath,
    [BRIGD, '--root', join(tmp, name), '--socket', sock, '--config', join(tmp, 'brig.yaml')],
    {
      env,
      stdio: 'ignore',
    },
  );
  registries.add(d);
  for (let i = 0; ; i++) {
    if (
      spawnSync(process.execPath, [BRIG, '--host', `unix://${sock}`, 'system', 'info'], { env }).status === 0
    )
      break;
    if (i > 200) throw new Error('brigd did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const cli = (...a) => timed(process.execPath, [BRIG, '--host', `unix://${sock}`, ...a]);
  // the same operation through the API from this (already running) process: brigd's share
  cli.api = (path, body) =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const payload = Buffer.from(JSON.stringify(body));
      const req = httpRequest(
        {
          socketPath: sock,
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', 'content-length': payload.length },
        },
        (res) => {
          let text = '';
          res.on('data', (b) => {
            text += b;
          });
          res.on('end', () => {
            const ms = Number(process.hrtime.bigint() - t0) / 1e6;
            if (res.statusCode !== 200 || text.includes('"error"'))
              reject(new Error(`${path}: ${text.slice(-500)}`));
            else resolve(ms);
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return cli;
}
const brigPush = await startBrigd('push');
const brigPull = await startBrigd('pull');
brigPush('image', 'import', LAYOUT, 'bench/debian:src');

// a pause before each timed run: what the previous step left (a GC, page cache writes) settles
const settle = () => new Promise((r) => setTimeout(r, 400));
const res = { pushBrig: [], pushSkopeo: [], pullBrig: [], pullSkopeo: [], pushBrigApi: [], pullBrigApi: [] };
for (let i = 0; i < ROUNDS; i++) {
  // alternate who goes first, so neither always meets a warm cache
  const order = i % 2 === 0 ? ['brig', 'skopeo'] : ['skopeo', 'brig'];
  for (const who of order) {
    const r = await startRegistry(ports.shift());
    if (who === 'brig') brigPush('image', 'tag', 'bench/debian:src', `${r.host}/b/debian:1`);
    await settle();
    if (who === 'brig') {
      res.pushBrig.push(brigPush('push', '-q', `${r.host}/b/debian:1`));
      brigPush('image', 'rm', `${r.host}/b/debian:1`);
      // and through the API, to a second repository of a second fresh registry
      const r2 = await startRegistry(ports.shift());
      brigPush('image', 'tag', 'bench/debian:src', `${r2.host}/b/debian:1`);
      await settle();
      res.pushBrigApi.push(await brigPush.api('/registry/push', { image: `${r2.host}/b/debian:1` }));
      brigPush('image', 'rm', `${r2.host}/b/debian:1`);
      await r2.stop();
    } else
      res.pushSkopeo.push(
        skopeo('copy', '--dest-tls-verify=false', `oci:${LAYOUT}:bookworm`, `docker://${r.host}/s/debian:1`),
      );
    await r.stop();
  }
  for (const who of order) {
    const dir = join(tmp, `pull-${who}-${i}`);
    await settle();
    if (who === 'brig') {
      res.pullBrig.push(brigPull('pull', '--no-unpack', '-q', `${seed.host}/seed/debian:1`));
      brigPull('image', 'rm', `${seed.host}/seed/debian:1`);
      await settle();
      res.pullBrigApi.push(
        await brigPull.api('/registry/pull', { reference: `${seed.host}/seed/debian:1`, unpack: false }),
      );
      brigPull('image', 'rm', `${seed.host}/seed/debian:1`);
    } else {
      res.pullSkopeo.push(
        skopeo('copy', '--src-tls-verify=false', `docker://${seed.host}/seed/debian:1`, `oci:${dir}:1`),
      );
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
await seed.stop();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};
const fmt = (x) => `${x.toFixed(0)} ms`;
const pull = median(res.pullBrig) / median(res.pullSkopeo);
const push = median(res.pushBrig) / median(res.pushSkopeo);
console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`,
);
console.log(
  `date: ${new Date().toISOString()}; image: Debian bookworm minbase, one 48.7 MiB gzip layer; rounds: ${ROUNDS}`,
);
console.log(
  `pull: brig ${fmt(median(res.pullBrig))}  skopeo ${fmt(median(res.pullSkopeo))}  ratio ${pull.toFixed(2)}x (target <= 0.9x)`,
);
console.log(
  `push: brig ${fmt(median(res.pushBrig))}  skopeo ${fmt(median(res.pushSkopeo))}  ratio ${push.toFixed(2)}x (target <= 1.0x)`,
);
console.log(
  `brigd's share (API call from a running process, no CLI start): pull ${fmt(median(res.pullBrigApi))} (${(median(res.pullBrigApi) / median(res.pullSkopeo)).toFixed(2)}x), push ${fmt(median(res.pushBrigApi))} (${(median(res.pushBrigApi) / median(res.pushSkopeo)).toFixed(2)}x)`,
);
console.log(JSON.stringify(res));
process.exit(0); // the daemons' handles would keep node alive; the exit handler stops them
