/**
 * Runtime level, as root with real runc/crun and conmon: the probe, a bundle from a busybox
 * rootfs run under conmon, exit detection through the exit dir, the runtime's own error on a
 * failed start. (The container service and the CLI are tested in containers.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isBrigError } from '../../src/errors/errors.ts';
import { hostRunner } from '../../src/platform/exec.ts';
import { LinuxPlatform } from '../../src/platform/linux/linux-platform.ts';
import {
  buildSpec,
  DEFAULT_RLIMITS,
  resolveProcess,
  resolveUser,
  writeSpec,
} from '../../src/runtime/bundle.ts';
import { conmonCreate } from '../../src/runtime/conmon.ts';
import { ExitWatcher } from '../../src/runtime/exit-watcher.ts';
import { OciRuntime } from '../../src/runtime/oci-runtime.ts';
import { busyboxImage } from '../support/busybox.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'busybox'] });

describe('runtime under conmon', needs, () => {
  test('probe picks a runtime that really runs a bundle, and caches it', async (t) => {
    const dir = tempDir(t);
    const p = new LinuxPlatform();
    const info = await p.runtime({ want: 'auto', workDir: dir });
    assert.ok(['runc', 'crun'].includes(info.name));
    assert.ok(readFileSync(join(dir, 'runtime-probe.json'), 'utf8').includes(info.path));
    const again = await new LinuxPlatform().runtime({ want: 'auto', workDir: dir });
    assert.equal(again.path, info.path);
    assert.equal(again.stateRoot, join(dir, info.name));
  });

  test('probes of several daemons at once all succeed and leave no probe cgroup', async (t) => {
    // each probe has a cgroup parent of its own: a shared one could be removed by a probe that
    // finished while another runc was creating its child in it
    const probes = Array.from({ length: 6 }, () =>
      new LinuxPlatform().runtime({ want: 'auto', workDir: tempDir(t) }),
    );
    for (const info of await Promise.all(probes)) assert.ok(['runc', 'crun'].includes(info.name));
    // only this process's probes (their names carry its pid): test files running at the same time
    // probe too, under the same cgroup
    const own = readFileSync('/proc/self/cgroup', 'utf8').match(/^\d+:pids:(.*)$/m)?.[1] ?? '/';
    const left = readdirSync(join('/sys/fs/cgroup/pids', own)).filter((n) =>
      n.startsWith(`brig-probe-${process.pid}-`),
    );
    assert.deepEqual(left, []);
  });

  test('a container runs, its exit status arrives through the exit dir; a bad command fails with the runtime message', async (t) => {
    const dir = tempDir(t);
    const { rootfs } = busyboxImage();
    const p = new LinuxPlatform();
    const info = await p.runtime({ want: 'auto', workDir: join(dir, 'rt') });
    const rt = new OciRuntime(info, hostRunner);
    const exitDir = join(dir, 'exits');
    const exits = new Map<string, number>();
    const waiters = new Map<string, () => void>();
    const w = new ExitWatcher(exitDir, async (id, code) => {
      exits.set(id, code);
      waiters.get(id)?.();
    });
    await w.start();
    t.after(() => w.close());

    async function run(id: string, args: string[]) {
      const bundle = join(dir, id.slice(0, 12));
      mkdirSync(bundle);
      const section = await p.bundleSection({
        id,
        daemonTag: 'rttest',
        name: 'x',
        limits: { pids: 64 },
        grant: {},
        readOnlyRoot: false,
        terminal: false,
      });
      const proc = resolveProcess({ Cmd: args }, undefined, {
        command: [],
        env: ['A=1'],
        terminal: false,
        hostname: 'h',
      });
      const spec = buildSpec({
        process: proc,
        user: resolveUser('0', '', ''),
        terminal: false,
        hostname: 'h',
        readOnlyRoot: false,
        mounts: [],
        etcFiles: [],
        rlimits: await p.clampRlimits(DEFAULT_RLIMITS),
        annotations: {},
        section,
      });
      (spec.root as { path: string }).path = rootfs;
      await writeSpec(bundle, spec);
      t.after(async () => {
        await rt.delete(id).catch(() => {});
        await p.releaseResources(id, section.scope);
      });
      const done = new Promise<void>((r) => waiters.set(id, r));
      const started = await conmonCreate(info.conmon.path, info, {
        id,
        cuuid: id.slice(0, 12),
        name: id.slice(0, 12),
        bundle,
        logPath: join(bundle, 'ctr.log'),
        exitDir,
        socketDir: join(dir, 's'),
        terminal: false,
        stdin: false,
      });
      await rt.start(id);
      return { started, done, bundle };
    }
    mkdirSync(join(dir, 's'));
    const id1 = 'a'.repeat(64);
    const r1 = await run(id1, ['/bin/sh', '-c', 'echo hello $A; exit 7']);
    assert.ok(r1.started.pid > 0);
    await r1.done;
    assert.equal(exits.get(id1), 7);
    assert.match(readFileSync(join(r1.bundle, 'ctr.log'), 'utf8'), / stdout F hello 1\n/);

    const id2 = 'b'.repeat(64);
    await assert.rejects(run(id2, ['/no/such/binary']), (e) => {
      assert.ok(isBrigError(e, 'ERR_RUNTIME_START'));
      assert.match((e as Error).message, /no such file/);
      return true;
    });
  });
});
