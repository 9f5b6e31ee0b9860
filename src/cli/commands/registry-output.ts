/**
 * What `brig pull` and `brig push` print once done: one text each for ./pull.ts, ./push.ts and
 * their fast path ./registry-fast.ts, which must print the same. Not a command: not listed in
 * ./index.ts.
 */
import type { PullSummary, PushSummary } from '../../client/registry.ts';

/**
 * With `quiet`, only the image name. `Digest:` is what the reference pointed at (an index, or the
 * manifest), as docker prints it: the image answers to REPO@that digest.
 */
export function pulledText(res: PullSummary, quiet: boolean): string {
  if (quiet) return `${res.name}\n`;
  const digest = res.targetDigest ?? res.manifestDigest;
  return `Digest: ${digest}\nPlatform: ${res.platform}\nPulled ${res.name}\n`;
}

/** With `quiet`, only the pushed digest. */
export function pushedText(res: PushSummary, quiet: boolean): string {
  if (quiet) return `${res.digest}\n`;
  const kept = res.keptPlatforms?.length ? `Kept in the index: ${res.keptPlatforms.join(', ')}\n` : '';
  return `${kept}Pushed ${res.name}\nDigest: ${res.digest} (${res.mediaType}, ${res.size} bytes)\n`;
}
