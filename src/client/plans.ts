import type { Plan, PlanRequest } from '../plans/plan.ts';
import type { BrigClient } from './client.ts';

export type { Plan, PlanRequest };

/** POST /containers/plan: what `brig run` would do, without doing it. */
export function planRun(c: BrigClient, req: PlanRequest): Promise<Plan> {
  return c.request<Plan>('POST', '/containers/plan', { body: req });
}
