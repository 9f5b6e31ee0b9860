/**
 * Typed wrappers of the privilege routes: devfs rulesets (src/api/routes/devfs.ts) and image
 * explanation (src/api/routes/explain.ts).
 */
import type { Explanation } from '../privileges/explain.ts';
import type { DevfsRulesetInfo } from '../privileges/service.ts';
import type { BrigClient } from './client.ts';

export type { DevfsRulesetInfo, Explanation };

export function listDevfsRulesets(c: BrigClient): Promise<DevfsRulesetInfo[]> {
  return c.request<DevfsRulesetInfo[]>('GET', '/devfs/rulesets');
}

export function explainImage(c: BrigClient, image: string, grants: string[] = []): Promise<Explanation> {
  return c.request<Explanation>('GET', `/images/${encodeURIComponent(image)}/explain`, {
    query: { grant: grants },
  });
}
