#!/usr/bin/env node
// Registry benchmark: brig vs skopeo, pull and push of the Debian fixture image against a local
// docker-registry (plain HTTP on 127.0.0.1), everything on a tmpfs mounted for the run.
//   node bench/registry.mjs [ROUNDS] [--fresh]   (root; results are printed, copy them to README.md)
// brig is measured as a user sees it: `brig pull` / `brig push` (dist/brig.cjs, built first) against
// a running brigd whose root is on the tmpfs; a pull lands in its content store without unpacking
// (and records the image). Between pull rounds the image is removed (`brig image rm`, whose GC
// deletes the blobs), untimed. skopeo: `skopeo copy docker://… oci:DIR` and back.
// Pushes go to one docker-registry for the whole run, its storage emptied before each push (and
// skopeo's blob-info cache deleted), so every push uploads every blob; each push is checked to
// have stored the layer. With --fresh, each push goes to a new registry on a new port instead:
// nothing, brigd included, has met that host before.
// NODE_EXTRA_CA_CERTS is removed from the children's environment (it costs ~60 ms per node start).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, Socket } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { checkBenchEnv, debianLayout, mountTmpfs } from './common.mjs';

const args = process.argv.slice(2);
const FRESH = args.includes('--fresh');
const ROUNDS = Number(args.find((a) => /^\d+$/.test(a)) ?? 5);
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
  const data = join(dir, 'data');
  return {
    host,
    // what a push stored: the sizes of the blobs' data files
    stored: () => {
      const blobs = join(data, 'docker/registry/v2/blobs/sha256');
      const sizes = [];
      for (const d of readdirSync(blobs, { withFileTypes: true }))
        for (const b of readdirSync(join(blobs, d.name)))
          sizes.push(statSync(join(blobs, d.name, b, 'data')).size);
      return sizes;
    },
    // storage emptied (distribution keeps no blob state in memory without a `cache` section)
    empty: () => {
      rmSync(data, { recursive: true, force: true });
      mkdirSync(data);
    },
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

// brigd on the tmpfs; the push registry's port (with --fresh: one port per push, picked up front)
// and the seed's are listed as insecure
const ports = [];
for (let i = 0; i < (FRESH ? 3 * ROUNDS : 1); i++) ports.push(await freePort());
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
// the layer's size: each timed push must have stored it (nothing skipped, nothing mounted)
const LAYER_SIZE = Math.max(
  ...readdirSync(join(LAYOUT, 'blobs/sha256')).map((b) => statSync(join(LAYOUT, 'blobs/sha256', b)).size),
);
const SKOPEO_CACHE = '/var/lib/containers/cache/blob-info-cache-v1.boltdb';
// the push target: one registry for the run, or (--fresh) a new one for each push
const target = FRESH ? undefined : await startRegistry(ports[0]);
async function pushTarget() {
  if (!target) return startRegistry(ports.shift());
  target.empty();
  return { ...target, stop: async () => {} };
}
function checkStored(r, what) {
  if (!r.stored().includes(LAYER_SIZE))
    throw new Error(`${what}: the registry holds no ${LAYER_SIZE}-byte layer`);
}
for (let i = 0; i < ROUNDS; i++) {
  // alternate who goes first, so neither always meets a warm cache
  const order = i % 2 === 0 ? ['brig', 'skopeo'] : ['skopeo', 'brig'];
  for (const who of order) {
    const r = await pushTarget();
    if (who === 'brig') brigPush('image', 'tag', 'bench/debian:src', `${r.host}/b/debian:1`);
    else rmSync(SKOPEO_CACHE, { force: true }); // it would otherwise remember where the blobs were
    await settle();
    if (who === 'brig') {
      res.pushBrig.push(brigPush('push', '-q', `${r.host}/b/debian:1`));
      checkStored(r, 'brig push');
      brigPush('image', 'rm', `${r.host}/b/debian:1`);
      // and through the API (to a second fresh registry with --fresh)
      await r.stop();
      const r2 = await pushTarget();
      brigPush('image', 'tag', 'bench/debian:src', `${r2.host}/b/debian:1`);
      await settle();
      res.pushBrigApi.push(await brigPush.api('/registry/push', { image: `${r2.host}/b/debian:1` }));
      checkStored(r2, 'brig push (API)');
      brigPush('image', 'rm', `${r2.host}/b/debian:1`);
      await r2.stop();
    } else {
      res.pushSkopeo.push(
        skopeo('copy', '--dest-tls-verify=false', `oci:${LAYOUT}:bookworm`, `docker://${r.host}/s/debian:1`),
      );
      checkStored(r, 'skopeo push');
      await r.stop();
    }
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
await target?.stop();

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
  `date: ${new Date().toISOString()}; image: Debian bookworm minbase, one 48.7 MiB gzip layer; rounds: ${ROUNDS}; push target: ${FRESH ? 'a new registry per push' : 'one registry, emptied before each push'}`,
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
