/**
 * The Platform for `brigd --platform NAME` (src/daemon/daemon.ts calls this once at start):
 *   linux              LinuxPlatform, commands on this host
 *   freebsd            FreeBSDPlatform, commands on this host
 *   freebsd-simulated  FreeBSDPlatform over the simulated FreeBSD host persisted under the root
 *                      (<root>/freebsd-simulated/host.json), prepared with pool `zroot` and the
 *                      dataset `zroot/brig` mounted at <root>/zfs (storage.zfs.dataset default).
 */
import type { Platform } from './platform.ts';

export interface CreatedPlatform {
  platform: Platform;
  /** The simulated host, for freebsd-simulated (tests and `brig inspect` of host state). */
  simulated?: import('./fake/index.ts').SimulatedFreeBSDHost;
  /** The ZFS dataset brig may use by default on this platform (none on Linux). */
  zfsDataset?: string;
}

export async function createPlatform(
  name: string,
  root: string,
  opts: { seccomp?: import('./linux/seccomp.ts').SeccompSetting } = {},
): Promise<CreatedPlatform> {
  if (name === 'freebsd-simulated') {
    const { openSimulatedHost, prepareSimulatedHost, simulatedPlatform, SIMULATED_DATASET } = await import(
      './freebsd/simulated.ts'
    );
    const host = openSimulatedHost(root);
    await prepareSimulatedHost(host, root);
    return { platform: simulatedPlatform(host), simulated: host, zfsDataset: SIMULATED_DATASET };
  }
  if (name === 'freebsd') {
    const { FreeBSDPlatform } = await import('./freebsd/freebsd-platform.ts');
    const { hostRunner } = await import('./exec.ts');
    return { platform: new FreeBSDPlatform({ runner: hostRunner }) };
  }
  const { LinuxPlatform } = await import('./linux/linux-platform.ts');
  return { platform: new LinuxPlatform(opts.seccomp ? { seccomp: opts.seccomp } : {}) };
}

/**
 * A Platform of the same kind as `name` over another runner (plans use a recording runner);
 * `like`: the daemon's own platform, whose settings (Linux: runtime.seccomp) it keeps.
 */
export async function platformOver(
  name: string,
  runner: import('./exec.ts').CommandRunner,
  like?: Platform,
): Promise<Platform> {
  if (name === 'freebsd' || name === 'freebsd-simulated') {
    const { FreeBSDPlatform } = await import('./freebsd/freebsd-platform.ts');
    return new FreeBSDPlatform({ runner, name });
  }
  const { LinuxPlatform } = await import('./linux/linux-platform.ts');
  return new LinuxPlatform({
    runner,
    ...(like instanceof LinuxPlatform ? { seccomp: like.seccompSetting } : {}),
  });
}
