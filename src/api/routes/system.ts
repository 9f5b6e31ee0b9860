import { arch, release } from 'node:os';
import type { Services } from '../../daemon/services.ts';
import { API_VERSION } from '../../version.ts';
import type { Router } from '../router.ts';

export function register(r: Router, s: Services): void {
  r.get('/_ping', () => ({ ok: true }));
  r.get('/version', () => ({ version: s.version, apiVersion: API_VERSION, node: process.version }));
  r.get('/system/info', () => ({
    version: s.version,
    apiVersion: API_VERSION,
    root: s.paths.root,
    socket: s.paths.socket,
    configFile: s.paths.configFile,
    node: process.version,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
    platform: {
      name: s.platformName,
      kernel: release(),
      arch: arch(),
      ...(s.info.platform as object | undefined),
    },
    storage: { driver: s.config.storage.driver, ...(s.info.storage as object | undefined) },
    runtime: {
      name: s.config.runtime.name,
      // Linux: the seccomp profile containers get (docs/privileges.md)
      ...(s.platformName === 'linux' ? { seccomp: s.config.runtime.seccomp } : {}),
      ...(s.info.runtime as object | undefined),
    },
    ...Object.fromEntries(
      Object.entries(s.info).filter(([k]) => !['platform', 'storage', 'runtime'].includes(k)),
    ),
  }));
}
