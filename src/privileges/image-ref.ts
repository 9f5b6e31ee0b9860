/**
 * The reference an image is run by, for `policy.images` matching (docs/privileges.md,
 * "Which name is matched"). Contract:
 *   - run (create, run, explain) by a name: that name as the image service resolved it
 *     (canonical: registry, repository, tag or digest); never another name of the same image
 *   - run by an image id or id prefix: undefined, so no `policy.images` entry applies (only the
 *     global policy). Tags are written by anyone who can reach the daemon and an image is
 *     untrusted, so a tag must never change what another name, or the bare id, is granted.
 */
import type { ImageService } from '../images/image-service.ts';
import { parseReference } from '../images/reference.ts';

/** The image service's own resolution, when it offers one (src/images/local-image-service.ts). */
interface Resolving {
  resolve(ref: string): Promise<{ id: string; name?: string }>;
}

const ID_PREFIX = /^(?:sha256:)?([a-f0-9]{4,64})$/;

function hasResolve(x: unknown): x is Resolving {
  return typeof (x as { resolve?: unknown }).resolve === 'function';
}

/** Whether the canonical `name` is what a lookup by name of `ref` finds (docker's short forms). */
export function namesRef(ref: string, name: string): boolean {
  if (ref === name) return true;
  try {
    const r = parseReference(ref);
    const n = parseReference(name);
    const first = ref.split('/')[0]!;
    const explicitDomain =
      ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
    if (explicitDomain && r.domain !== n.domain) return false;
    const bare = (p: string) => (p.startsWith('library/') ? p.slice('library/'.length) : p);
    const tag = (x: { tag?: string; digest?: string }) => x.tag ?? (x.digest ? undefined : 'latest');
    return bare(r.path) === bare(n.path) && tag(r) === tag(n) && r.digest === n.digest;
  } catch {
    return false;
  }
}

/**
 * The canonical name `ref` was resolved by, or undefined when it was an image id. `names` are
 * the image's names (ImageDetails.names), `id` its config digest.
 */
export async function runReference(
  images: ImageService | Resolving,
  ref: string,
  image: { id: string; names: readonly string[] },
): Promise<string | undefined> {
  if (image.names.includes(ref)) return ref;
  let name: string | undefined;
  if (hasResolve(images)) name = (await images.resolve(ref)).name;
  else name = image.names.find((n) => namesRef(ref, n));
  if (name === undefined || !image.names.includes(name)) return undefined;
  const m = ID_PREFIX.exec(ref);
  // by id, the image service answers with the image's first name: not a name that was run
  if (m && image.id.replace(/^sha256:/, '').startsWith(m[1]!) && !namesRef(ref, name)) return undefined;
  return name;
}
