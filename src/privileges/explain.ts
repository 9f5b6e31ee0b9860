/**
 * `brig image explain IMAGE` (pure): what the image is, how to run it, and what this host's
 * policy says about each privilege it requests. Secrets are masked: a secret parameter's
 * default is never shown. With --grant values, the decisions are those of a run given them.
 */
import type { ImageDetails } from '../images/image-service.ts';
import { type Decision, evaluate, linuxEffects, type Policy } from '../policy/index.ts';

export const SECRET_MASK = '********';

export interface Explanation {
  id: string;
  names: string[];
  digest: string;
  platform: string;
  description?: string;
  entrypoints: Array<{
    name: string;
    default: boolean;
    args: string[];
    description?: string;
    usage?: string;
  }>;
  parameters: Array<{
    name: string;
    required: boolean;
    secret: boolean;
    description?: string;
    /** The default, masked for a secret. */
    default?: string;
  }>;
  volumes: Array<{
    name: string;
    destination: string;
    required: boolean;
    readOnly: boolean;
    description?: string;
  }>;
  ports: Array<{ port: string; description?: string }>;
  /** One per requested privilege, in request order: granted on this host or refused, and why. */
  privileges: Decision[];
  /** Whether `brig run` would start it without --grant. */
  runnable: boolean;
  /** Granted privileges this host's platform cannot honour, or honours differently. */
  platformNotes: string[];
}

export function explainImage(
  d: Pick<ImageDetails, 'id' | 'names' | 'manifestDigest' | 'platform' | 'brig'>,
  policy: Policy,
  host: { os: 'linux' | 'freebsd' },
  grants: readonly string[] = [],
  /** The canonical name the image was asked for (src/privileges/image-ref.ts); absent: by id. */
  ref?: string,
): Explanation {
  const b = d.brig;
  const ev = evaluate(b.privileges, policy, { ...(ref ? { imageRef: ref } : {}), grants });
  const notes: string[] = [];
  if (host.os === 'linux') {
    const fx = linuxEffects(ev.granted);
    notes.push(...fx.warnings, ...fx.unsupported.map((u) => `${u.item} cannot run on Linux: ${u.reason}`));
  }
  return {
    id: d.id,
    names: d.names,
    digest: d.manifestDigest,
    platform: d.platform,
    ...(b.description ? { description: b.description } : {}),
    entrypoints: Object.entries(b.entrypoints).map(([name, e]) => ({
      name,
      default: b.defaultEntrypoint === name,
      args: e.args,
      ...(e.description ? { description: e.description } : {}),
      ...(e.usage ? { usage: e.usage } : {}),
    })),
    parameters: Object.entries(b.parameters).map(([name, p]) => ({
      name,
      required: p.required && p.default === undefined,
      secret: p.secret,
      ...(p.description ? { description: p.description } : {}),
      ...(p.default !== undefined ? { default: p.secret ? SECRET_MASK : p.default } : {}),
    })),
    volumes: Object.entries(b.volumes).map(([name, v]) => ({
      name,
      destination: v.destination,
      required: v.required,
      readOnly: v.readOnly,
      ...(v.description ? { description: v.description } : {}),
    })),
    ports: Object.entries(b.ports).map(([port, p]) => ({
      port,
      ...(p.description ? { description: p.description } : {}),
    })),
    privileges: ev.decisions.map((x) => ({ ...x })),
    runnable: ev.refusals.length === 0,
    platformNotes: notes,
  };
}
