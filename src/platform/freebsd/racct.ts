/**
 * rctl(8) needs RACCT (the loader tunable `kern.racct.enable=1`). Without it `--memory`, `--cpus`
 * and `--pids-limit` are refused with ERR_RACCT_DISABLED. The containers service asks at create
 * (through src/privileges/containers.ts, before the record or a devfs ruleset exists); the
 * platform asks again at start (a host rebooted without the tunable).
 */
import { BrigError } from '../../errors/errors.ts';
import type { CommandRunner } from '../exec.ts';
import type { ResourceLimits } from '../platform.ts';

export async function racctEnabled(runner: CommandRunner): Promise<boolean> {
  const r = await runner.run('sysctl', ['-n', 'kern.racct.enable'], { check: false });
  return r.code === 0 && r.stdout.toString().trim() === '1';
}

export function racctDisabled(): BrigError {
  return new BrigError(
    'ERR_RACCT_DISABLED',
    '--memory, --cpus and --pids-limit need rctl (kern.racct.enable=1)',
  );
}

/** Throws ERR_RACCT_DISABLED when `limits` sets anything and RACCT is off; runs nothing otherwise. */
export async function assertLimitsSupported(runner: CommandRunner, limits: ResourceLimits): Promise<void> {
  if (limits.memory === undefined && limits.cpus === undefined && limits.pids === undefined) return;
  if (!(await racctEnabled(runner))) throw racctDisabled();
}
