#!/usr/bin/env node
// Container run benchmark (issue 3), on a tmpfs this script mounts itself:
//   1. `brig run --rm IMAGE /bin/true` (CLI through brigd; also the same through the API from
//      this process, to show the daemon's part without the client's node start-up)
//      vs `podman run --rm --network none IMAGE /bin/true` (same runtime: runc; podman's storage
//      under a temporary root; --ulimit nofile=20000:20000 --ulimit nproc=32768:32768, which
//      podman needs on these hosts) vs bare `runc run` of a prepared bundle; alternated rounds.
//   2. 100 containers started at once (through the API, concurrently): total time, brigd's RSS.
//   3. 500 containers running at once: brigd's RSS, `brig ps` time (CLI).
//
//   unset NODE_EXTRA_CA_CERTS; npm run build; node --import tsx bench/run.mjs [--rounds N] [--many 500 (0: the run comparison only)]
//
// Needs root, runc, conmon, podman, umoci, busybox-static.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrigClient } from '../src/client/client.ts';
import { containers, FRAME, FrameDecoder } from '../src/client/containers.ts';
import { checkBenchEnv, mountTmpfsAt } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const rounds = arg('--rounds', 11);
const many = arg('--many', 500);

checkBenchEnv('runc, podman, tmpfs mount');
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

// lowercase: podman derives an image name from the layout's path
const mnt = mountTmpfsAt(`/var/tmp/brig-bench-run-${process.pid}`, '4g');
let daemon;
const podmanArgs = [
  '--root',
  join(mnt, 'podman'),
  '--runroot',
  join(mnt, 'podman-run'),
  '--storage-driver',
  'overlay',
  '--cgroup-manager',
  'cgroupfs',
  '--events-backend',
  'none',
  '--runtime',
  'runc',
];
const cleanup = () => {
  spawnSync('podman', [...podmanArgs, 'rm', '-af'], { stdio: 'ignore' });
  spawnSync('podman', [...podmanArgs, 'system', 'reset', '-f'], { stdio: 'ignore' });
  daemon?.kill('SIGTERM');
  spawnSync('sh', ['-c', `grep -o '${mnt}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
  spawnSync('umount', ['-l', mnt]);
  rmSync(mnt, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => process.hrtime.bigint();
const ms = (t0) => Number(now() - t0) / 1e6;
const rss = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;

// --- fixtures: busybox OCI layout, a prepared bundle for bare runc
const layout = join(mnt, 'busybox');
execFileSync('sh', [join(here, '../../shared/fixtures/make-busybox-image.sh'), layout], { stdio: 'ignore' });
const bundle = join(mnt, 'bundle');
execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, bundle], { stdio: 'ignore' });
{
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
}

// --- brigd on the tmpfs
const sock = join(mnt, 'brig.sock');
writeFileSync(join(mnt, 'brig.yaml'), '');
daemon = spawn(
  process.execPath,
  [
    join(here, '../dist/brigd.mjs'),
    '--root',
    join(mnt, 'root'),
    '--socket',
    sock,
    '--config',
    join(mnt, 'brig.yaml'),
  ],
  { env, stdio: ['ignore', 'ignore', 'inherit'] },
);
for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
const brig = (args, opts = {}) =>
  spawnSync(process.execPath, [join(here, '../dist/brig.cjs'), '--host', `unix://${sock}`, ...args], {
    env,
    encoding: 'utf8',
    ...opts,
  });
const imp = brig(['image', 'import', layout, 'busybox:latest']);
if (imp.status !== 0) throw new Error(`import failed: ${imp.stderr}`);
const client = new BrigClient(sock);

// --- podman: image copied into its own storage (no network)
const pull = spawnSync('podman', [...podmanArgs, 'pull', '-q', `oci:${layout}:latest`], { encoding: 'utf8' });
if (pull.status !== 0) throw new Error(`podman pull failed: ${pull.stderr}`);
const podmanImage = pull.stdout.trim();

/** `brig run --rm` through the API: one upgrade that creates, starts, streams, ends with the exit (what the CLI does). */
async function apiRun() {
  const { socket, head } = await containers.run(client, {
    image: 'busybox',
    command: ['/bin/true'],
    autoRemove: true,
  });
  const dec = new FrameDecoder();
  let err;
  let code;
  const onData = (b) => {
    for (const f of dec.push(b)) {
      if (f.type === FRAME.error) err = f.payload.toString();
      else if (f.type === FRAME.exit) code = JSON.parse(f.payload.toString()).exitCode;
    }
  };
  onData(head);
  socket.on('data', onData);
  await new Promise((r) => socket.on('close', r));
  if (err) throw new Error(err);
  return code;
}

const tools = {
  'brig run --rm (CLI)': () => {
    const r = brig(['run', '--rm', 'busybox', '/bin/true']);
    if (r.status !== 0) throw new Error(r.stderr);
  },
  'brig run --rm (API, in-process client)': async () => {
    if ((await apiRun()) !== 0) throw new Error('exit');
  },
  'podman run --rm --network none': () => {
    const r = spawnSync(
      'podman',
      [
        ...podmanArgs,
        'run',
        '--rm',
        '--network',
        'none',
        '--ulimit',
        'nofile=20000:20000',
        '--ulimit',
        'nproc=32768:32768',
        podmanImage,
        '/bin/true',
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(r.stderr);
  },
  'runc run (bare, prepared bundle)': (() => {
    let n = 0;
    return () => {
      const r = spawnSync('runc', ['--root', join(mnt, 'runc'), 'run', '--bundle', bundle, `bench${n++}`], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(r.stderr);
    };
  })(),
  // The floor of any conmon-supervised run on this host: the three runtime calls conmon's
  // protocol needs (create under conmon, start, delete), run back to back on the same bundle,
  // and node's own start-up, which any CLI written for node pays.
  'floor: runc create + start + delete (bare)': (() => {
    let n = 0;
    return () => {
      const id = `floor${n++}`;
      const root = ['--root', join(mnt, 'runc')];
      for (const args of [
        ['create', '--bundle', bundle, id],
        ['start', id],
        ['delete', '--force', id],
      ]) {
        // no pipes: the container's init inherits them and holds them open until it ends
        const r = spawnSync('runc', [...root, ...args], { stdio: 'ignore' });
        if (r.status !== 0) throw new Error(`runc ${args[0]}: exit status ${r.status}`);
      }
    };
  })(),
  'floor: node -e 0': () => {
    const r = spawnSync(process.execPath, ['-e', '0'], { env });
    if (r.status !== 0) throw new Error('node -e 0');
  },
};

const times = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
for (const fn of Object.values(tools)) await fn(); // warm-up
for (let i = 0; i < rounds; i++) {
  for (const [k, fn] of Object.entries(tools)) {
    const t0 = now();
    await fn();
    times[k].push(ms(t0));
  }
}
const podman = median(times['podman run --rm --network none']);
const bare = median(times['runc run (bare, prepared bundle)']);
console.log(
  `\n${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0].model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`,
);
console.log(
  `runc ${execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0]}, ${execFileSync('conmon', ['--version'], { encoding: 'utf8' }).split('\n')[0]}, ${execFileSync('podman', ['--version'], { encoding: 'utf8' }).trim()}; ${rounds} rounds\n`,
);
console.log('| tool | median ms | min ms | vs podman | minus bare runc |');
console.log('|---|---|---|---|---|');
for (const [k, xs] of Object.entries(times)) {
  const m = median(xs);
  console.log(
    `| ${k} | ${m.toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${(m / podman).toFixed(2)}x | ${(m - bare).toFixed(0)} |`,
  );
}

// brigd must be gone before its tmpfs is unmounted (else it may write below the mount point);
// then exit explicitly: the client's keep-alive sockets would keep this process alive
async function finish() {
  await new Promise((r) => {
    daemon.once('exit', r);
    daemon.kill('SIGTERM');
  });
  daemon = undefined;
  process.exit(0);
}
if (many === 0) await finish(); // --many 0: the run comparison only

// --- 100 at once
const pid = daemon.pid;
const rss0 = rss(pid);
async function startMany(n) {
  const ids = [];
  await Promise.all(
    Array.from({ length: n }, async () => {
      const c = await containers.create(client, { image: 'busybox', command: ['sleep', '100000'] });
      await containers.start(client, c.id);
      ids.push(c.id);
    }),
  );
  return ids;
}
let t0 = now();
const first = await startMany(100);
const t100 = ms(t0);
const rss100 = rss(pid);
console.log(
  `\n100 containers started at once (API, concurrent create+start): ${(t100 / 1000).toFixed(2)} s total; brigd RSS ${mib(rss0)} before, ${mib(rss100)} after`,
);

// --- many running
const rest = [];
for (let have = 100; have < many; have += 50) rest.push(...(await startMany(Math.min(50, many - have))));
const running = (await containers.list(client)).length;
const rssMany = rss(pid);
const psTimes = [];
for (let i = 0; i < 5; i++) {
  t0 = now();
  const r = brig(['ps']);
  psTimes.push(ms(t0));
  if (r.status !== 0) throw new Error(r.stderr);
}
const psJson = [];
for (let i = 0; i < 5; i++) {
  t0 = now();
  brig(['ps', '-a', '--json']);
  psJson.push(ms(t0));
}
console.log(
  `${running} containers running: brigd RSS ${mib(rssMany)}; \`brig ps\` ${median(psTimes).toFixed(0)} ms (median of 5), \`brig ps -a --json\` ${median(psJson).toFixed(0)} ms`,
);

// --- clean up (rm -f, 25 at a time)
const all = [...first, ...rest];
t0 = now();
for (let i = 0; i < all.length; i += 25) {
  await Promise.all(all.slice(i, i + 25).map((id) => containers.remove(client, id, { force: true })));
}
console.log(
  `removed ${all.length} running containers (rm -f, 25 at a time): ${(ms(t0) / 1000).toFixed(2)} s`,
);

await finish();
