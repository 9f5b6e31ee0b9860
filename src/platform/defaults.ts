/**
 * Default locations (design §5). Only platform/ knows which operating system it runs on.
 */
export interface DefaultPaths {
  root: string;
  config: string;
  socket: string;
}

export function hostOS(): 'linux' | 'freebsd' | 'other' {
  return process.platform === 'linux' ? 'linux' : process.platform === 'freebsd' ? 'freebsd' : 'other';
}

export function defaultPaths(os: 'linux' | 'freebsd' | 'other' = hostOS()): DefaultPaths {
  if (os === 'freebsd') {
    return { root: '/var/db/brig', config: '/usr/local/etc/brig.yaml', socket: '/var/run/brig.sock' };
  }
  return { root: '/var/lib/brig', config: '/etc/brig/brig.yaml', socket: '/var/run/brig.sock' };
}

/** The host's OCI platform (GOOS/GOARCH spelling). */
export function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  const os = hostOS();
  return { os: os === 'other' ? process.platform : os, architecture: arch[process.arch] ?? process.arch };
}

/** Group name → gid from /etc/group (numbers pass through). */
export async function resolveGroup(group: string | number): Promise<number | undefined> {
  if (typeof group === 'number') return group;
  if (/^\d+$/.test(group)) return Number(group);
  const { readFile } = await import('node:fs/promises');
  try {
    for (const line of (await readFile('/etc/group', 'utf8')).split('\n')) {
      const [name, , gid] = line.split(':');
      if (name === group && gid) return Number(gid);
    }
  } catch {}
  return undefined;
}
