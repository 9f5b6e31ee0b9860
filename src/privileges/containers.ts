/**
 * The containers service's view of privileges (src/containers/service.ts calls these; the
 * daemon wires them). Order within `create`:
 *
 *   beforeCreate(image, spec, caller)  required parameters/volumes (checkRunRequirements), then
 *                                      the policy check (PrivilegeService.check), then whether
 *                                      the host can honour bind propagation (FreeBSD: none)
 *                                      and --memory/--cpus/--pids-limit (FreeBSD: RACCT):
 *                                      throws before anything exists
 *   admit(id, decision, image, caller) the devfs ruleset for the new id + the override events;
 *                                      returns the undo (a failed create runs it)
 *   grant(image, spec, id)             at every start: re-checked against the current policy with
 *                                      the stored --grant values (no caller check: they were
 *                                      checked at create), ruleset re-acquired if the composition
 *                                      changed, the Platform's PrivilegeGrant
 *   release(id)                        when the container record is removed (rm, --rm)
 */
import type { BrigSection } from '../images/brig-section.ts';
import type { PeerCredentials } from '../platform/peer.ts';
import type { PrivilegeGrant } from '../platform/platform.ts';
import { NO_PRIVILEGES } from '../policy/index.ts';
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from '../volumes/mount-spec.ts';
import type { PrivilegeDecision } from './grant.ts';
import { checkRunRequirements } from './requirements.ts';
import type { ImageFacts, PrivilegeService, RunFacts } from './service.ts';

/** The parts of the containers service's ResolvedImage used here. */
export interface ImageLike {
  /** Config digest (the image id): named in override events. */
  id: string;
  /** The reference that was run, canonical; the image id (= `id`) when it was run by id. */
  name: string;
  config?: { config?: { Env?: string[] } };
  brig?: unknown;
}

/** The parts of a ContainerSpec used here. */
export interface SpecLike {
  grants?: string[];
  env: string[];
  mounts: ReadonlyArray<{ kind: 'volume' | 'mount' | 'tmpfs'; value: string }>;
  /** Host ports to publish, when the run has -p. */
  ports?: number[];
  memory?: number;
  cpus?: number;
  pidsLimit?: number;
}

function brigOf(image: ImageLike): Partial<BrigSection> {
  return (image.brig ?? {}) as Partial<BrigSection>;
}

function facts(image: ImageLike): ImageFacts {
  return {
    // run by id: no policy.images entry applies (src/privileges/image-ref.ts)
    ...(image.name !== image.id ? { ref: image.name } : {}),
    digest: image.id,
    brig: { privileges: brigOf(image).privileges ?? NO_PRIVILEGES },
  };
}

function parsedMounts(spec: SpecLike) {
  return spec.mounts.map((m) =>
    m.kind === 'volume'
      ? parseVolumeFlag(m.value)
      : m.kind === 'mount'
        ? parseMountFlag(m.value)
        : parseTmpfsFlag(m.value),
  );
}

function runFacts(spec: SpecLike): RunFacts {
  const binds = parsedMounts(spec).flatMap((m) => (m.type === 'bind' ? [m.source] : []));
  return {
    ...(spec.grants?.length ? { grants: spec.grants } : {}),
    ...(binds.length ? { binds } : {}),
    ...(spec.ports?.length ? { ports: spec.ports } : {}),
  };
}

export class ContainerPrivileges {
  readonly #svc: PrivilegeService;

  constructor(svc: PrivilegeService) {
    this.#svc = svc;
  }

  async beforeCreate(
    image: ImageLike,
    spec: SpecLike,
    caller: Partial<PeerCredentials> | undefined,
  ): Promise<PrivilegeDecision> {
    const b = brigOf(image);
    checkRunRequirements(
      { parameters: b.parameters ?? {}, volumes: b.volumes ?? {} },
      {
        env: [...(image.config?.config?.Env ?? []), ...spec.env],
        volumes: parsedMounts(spec).map((m) => m.target),
      },
    );
    const d = await this.#svc.check(facts(image), runFacts(spec), caller);
    this.#svc.checkPropagation(
      parsedMounts(spec).flatMap((m) => (m.type === 'bind' && m.propagation ? [m.propagation] : [])),
    );
    await this.#svc.checkLimits({
      ...(spec.memory !== undefined ? { memory: spec.memory } : {}),
      ...(spec.cpus !== undefined ? { cpus: spec.cpus } : {}),
      ...(spec.pidsLimit !== undefined ? { pids: spec.pidsLimit } : {}),
    });
    return d;
  }

  async admit(
    id: string,
    decision: PrivilegeDecision,
    image: ImageLike,
    caller: Partial<PeerCredentials> | undefined,
  ): Promise<() => Promise<void>> {
    await this.#svc.acquireForContainer(id, decision.composed);
    this.#svc.recordOverrides(id, decision, facts(image), caller);
    return async () => {
      await this.#svc.releaseContainer(id);
    };
  }

  /** A GrantResolver for the containers service (called at every start). */
  grant = async (image: ImageLike, spec: SpecLike, id: string): Promise<PrivilegeGrant> => {
    const d = await this.#svc.check(facts(image), runFacts(spec), undefined, { trusted: true });
    await this.#svc.acquireForContainer(id, d.composed);
    return this.#svc.grantFor(id, d);
  };

  async release(id: string): Promise<void> {
    await this.#svc.releaseContainer(id);
  }
}
