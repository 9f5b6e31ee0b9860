/**
 * `brig run --dry-run` output: the host commands in order (one per line, shell-quoted so they
 * can be read and pasted; commands another program runs are indented under it, `# via conmon`),
 * the files brig would write itself, then the bundle's config.json. `--json` prints the Plan.
 */

import type { Plan } from '../plans/plan.ts';
import { formatCommand } from '../platform/exec.ts';

export function formatPlan(plan: Plan): string {
  const out: string[] = [`# plan on ${plan.platform}: nothing has been run`, '# host commands, in order'];
  for (const c of plan.commands) {
    const line = formatCommand(c.cmd, c.args);
    out.push(
      c.via ? `  ${line}    # run by ${c.via}` : c.cwd ? `(cd ${formatCommand(c.cwd, [])} && ${line})` : line,
    );
  }
  out.push('# files brig writes itself');
  for (const f of plan.files) out.push(`#   ${f.path}: ${f.what}`);
  out.push('# config.json');
  out.push(JSON.stringify(plan.bundle, null, 2));
  return `${out.join('\n')}\n`;
}
