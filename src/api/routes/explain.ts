/**
 * GET /images/:name/explain -> Explanation (src/privileges/explain.ts): what the image is, its
 * entry points, parameters (secrets masked), volumes, ports, and each requested privilege as
 * this host's policy decides it;
 * `?grant=PRIV` (repeatable, administrators only) as a run with those --grant values. docs/api.md § Privileges and devfs.
 */
import type { Services } from '../../daemon/services.ts';
import { BrigError } from '../../errors/errors.ts';
import { runReference } from '../../privileges/image-ref.ts';
import type { Router } from '../router.ts';
import { privilegeService } from './devfs.ts';

export function register(r: Router, s: Services): void {
  r.get('/images/:name/explain', async (req) => {
    if (!s.images) throw new BrigError('ERR_UNSUPPORTED_PLATFORM', 'images are not available in this daemon');
    const p = privilegeService(s);
    const grants = req.query.getAll('grant');
    const caller = await p.callerFor(grants, req.raw.socket, req.caller);
    const details = await s.images.inspect(req.params.name!);
    const ref = await runReference(s.images, req.params.name!, details);
    return p.explain(details, grants, caller, ref);
  });
}
