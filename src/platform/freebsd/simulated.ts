/**
 * `brigd --platform freebsd-simulated`: the FreeBSD platform over the simulated host of
 * ../fake, persisted under the daemon's root so that it survives daemon restarts.
 *
 *   <root>/freebsd-simulated/host.json     the simulated host's whole state (jails, mounts, ...)
 *   <root>/freebsd-simulated/zfs-content/  snapshot contents (so `zfs diff` works)
 *   <root>/zfs/                            mountpoint of the prepared dataset `zroot/brig`
 *
 * Nothing on the real host is touched except the daemon's own root: bundles and logs, the exit
 * files the simulated conmon writes, ZFS mountpoint directories below the root.
 *
 * The simulated host is prepared as docs/freebsd.md tells an operator to prepare a real one:
 * pool `zroot` with dataset `zroot/brig`, `kern.racct.enable=1`, ocijail and conmon installed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BrigError } from '../../errors/errors.ts';
import { runtimeMessage } from '../../runtime/oci-runtime.ts';
import { type HostConfig, SimulatedFreeBSDHost } from '../fake/index.ts';
import { FreeBSDPlatform } from './freebsd-platform.ts';

export const SIMULATED_DATASET = 'zroot/brig';

export function openSimulatedHost(root: string, extra: Partial<HostConfig> = {}): SimulatedFreeBSDHost {
  const dir = join(root, 'freebsd-simulated');
  const stateFile = join(dir, 'host.json');
  const host = SimulatedFreeBSDHost.open({
    pools: ['zroot'],
    sysctl: { 'kern.racct.enable': '1' },
    writable: [root],
    contentDir: join(dir, 'zfs-content'),
    ...extra,
    stateFile,
  });
  return host;
}

/** Creates the prepared dataset on a fresh simulated host (async: the runner is async). */
export async function prepareSimulatedHost(host: SimulatedFreeBSDHost, root: string): Promise<void> {
  if (host.state().datasets[SIMULATED_DATASET]) return;
  await host.run('zfs', ['create', '-o', `mountpoint=${join(root, 'zfs')}`, SIMULATED_DATASET]);
  host.log.length = 0;
}

/**
 * The FreeBSD platform over a simulated host: conmon runs through the runner (the simulated
 * conmon writes its pid, log and exit files for real), and process liveness is the host's.
 */
export function simulatedPlatform(host: SimulatedFreeBSDHost): FreeBSDPlatform {
  const p = new FreeBSDPlatform({ runner: host, name: 'freebsd-simulated' });
  p.startConmon = async (conmonPath, args, bundle) => {
    const r = await host.run(conmonPath, args, { check: false });
    if (r.code !== 0)
      throw new BrigError(
        'ERR_RUNTIME_START',
        runtimeMessage(r.stderr.toString().replace(/^\[conmon:e\][^\n]*\n/, '')) || 'conmon failed',
      );
    const i = args.indexOf('-p');
    const read = (f: string | undefined) => {
      try {
        return f ? Number(readFileSync(f, 'utf8').trim()) || 0 : 0;
      } catch {
        return 0;
      }
    };
    return {
      pid: read(i >= 0 ? args[i + 1] : join(bundle, 'pidfile')),
      conmonPid: read(join(bundle, 'conmon.pid')),
    };
  };
  p.alive = (pid) => host.isProcessAlive(pid);
  // nullfs mounts exist only in the simulated host's state: a path below one is its source's
  p.hostView = (path) => {
    let cur = path.replace(/\/+$/, '') || '/';
    for (let hops = 0; hops < 32; hops++) {
      const m = [...host.state().mounts]
        .reverse()
        .find((x) => x.fstype === 'nullfs' && (cur === x.target || cur.startsWith(`${x.target}/`)));
      if (!m) return cur;
      cur = m.source + cur.slice(m.target.length);
    }
    return cur;
  };
  p.runExec = (runtimePath, args, input) =>
    host.run(runtimePath, args, { check: false, ...(input ? { input } : {}) });
  return p;
}
