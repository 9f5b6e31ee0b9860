/**
 * devfs rulesets: GET /devfs/rulesets -> DevfsRulesetInfo[] (number, hash, composed rules,
 * containers using it), sorted by number. docs/api.md § Privileges and devfs.
 */
import type { Services } from '../../daemon/services.ts';
import { BrigError } from '../../errors/errors.ts';
import type { PrivilegeService } from '../../privileges/service.ts';
import type { Router } from '../router.ts';

export function privilegeService(s: Services): PrivilegeService {
  if (!s.privileges)
    throw new BrigError('ERR_UNSUPPORTED_PLATFORM', 'privileges are not available in this daemon');
  return s.privileges;
}

export function register(r: Router, s: Services): void {
  r.get('/devfs/rulesets', () => privilegeService(s).list());
}
