/**
 * What `brig run` / `brig create` must be given before anything is created (pure): every
 * required parameter of the image's `brig` section (an environment variable with no default)
 * and every required volume (something mounted at its destination). Each missing one is named
 * with its description in one ERR_PARAMETER_MISSING (`details.missing`).
 */
import { posix } from 'node:path';
import { BrigError } from '../errors/errors.ts';
import type { BrigSection } from '../images/brig-section.ts';

export interface RunRequirementsInput {
  /** The run's environment: `NAME=VALUE` strings (-e, --env-file) or a name -> value map. */
  readonly env: readonly string[] | Readonly<Record<string, string>>;
  /** Container paths something is mounted at (-v, --mount, --tmpfs destinations). */
  readonly volumes: readonly string[];
}

export interface MissingRequirement {
  readonly kind: 'parameter' | 'volume';
  readonly name: string;
  readonly description?: string;
  /** Volumes: where it must be mounted. */
  readonly destination?: string;
}

function envNames(env: RunRequirementsInput['env']): Set<string> {
  if (!Array.isArray(env)) return new Set(Object.keys(env));
  return new Set((env as readonly string[]).map((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e)));
}

const norm = (p: string) => posix.normalize(p).replace(/(.)\/+$/, '$1');

/** The missing requirements (empty when the run may go on). */
export function missingRequirements(
  brig: Pick<BrigSection, 'parameters' | 'volumes'>,
  input: RunRequirementsInput,
): MissingRequirement[] {
  const names = envNames(input.env);
  const mounted = new Set(input.volumes.map(norm));
  const out: MissingRequirement[] = [];
  for (const [name, p] of Object.entries(brig.parameters ?? {})) {
    if (!p.required || p.default !== undefined || names.has(name)) continue;
    out.push({ kind: 'parameter', name, ...(p.description ? { description: p.description } : {}) });
  }
  for (const [name, vol] of Object.entries(brig.volumes ?? {})) {
    if (!vol.required || mounted.has(norm(vol.destination))) continue;
    out.push({
      kind: 'volume',
      name,
      destination: vol.destination,
      ...(vol.description ? { description: vol.description } : {}),
    });
  }
  return out;
}

/** Throws ERR_PARAMETER_MISSING naming every missing parameter and volume with its description. */
export function checkRunRequirements(
  brig: Pick<BrigSection, 'parameters' | 'volumes'>,
  input: RunRequirementsInput,
): void {
  const missing = missingRequirements(brig, input);
  if (missing.length === 0) return;
  const lines = missing.map((m) =>
    m.kind === 'parameter'
      ? `  parameter ${m.name}${m.description ? `: ${m.description}` : ''} (pass -e ${m.name}=VALUE)`
      : `  volume ${m.name} at ${m.destination}${m.description ? `: ${m.description}` : ''} (pass -v SOURCE:${m.destination})`,
  );
  throw new BrigError(
    'ERR_PARAMETER_MISSING',
    `the image requires ${missing.length === 1 ? 'something' : `${missing.length} things`} not given:\n${lines.join('\n')}`,
    { details: { missing: missing.map((m) => ({ ...m })) } },
  );
}
