/**
 * ps(1) on the simulated host, only as brig uses it: `ps -J JAIL -o KEYWORD=,...` (the processes
 * of one jail, by jid or name; keywords pid, ppid, user, cputime/time, command/args; `=` after a
 * keyword suppresses its header, as ps does; a jail that does not exist: exit 1, no output).
 * The init process of a container has conmon (outside the jail) as its parent; every simulated
 * process runs as root and has used no CPU time.
 */
import { findJail } from './jail-tools.ts';
import { die, getopt, ok, optVal, optVals, type ToolContext, type ToolOutput } from './tool.ts';

const USAGE = 'usage: ps [-J jid[,jid...]] [-o fmt] (simulated: -J and -o only)';
const KEYWORDS = new Set(['pid', 'ppid', 'user', 'cputime', 'time', 'command', 'args']);

export function psTool(ctx: ToolContext, args: string[]): ToolOutput {
  const r = getopt(args, 'J:o:', 'ps', USAGE);
  if (r.rest.length) die(USAGE);
  const sel = optVal(r, 'J');
  if (sel === undefined) die('ps: simulated host: only ps -J is simulated');
  // Each -o is a list; `keyword=header` ends at the end of its -o argument (POSIX), so brig passes
  // one -o per keyword.
  const specs = optVals(r, 'o');
  const words = (specs.length ? specs : ['pid,ppid,user,cputime,command']).flatMap((o) => {
    const eq = o.indexOf('=');
    if (eq < 0) return o.split(/[\s,]+/).filter(Boolean);
    const head = o.slice(0, eq).split(/[\s,]+/);
    return [...head.slice(0, -1), `${head.at(-1)}=${o.slice(eq + 1)}`];
  });
  const fields = words.map((f) => {
    const eq = f.indexOf('=');
    const [k, h] = eq < 0 ? [f, undefined] : [f.slice(0, eq), f.slice(eq + 1)];
    if (!KEYWORDS.has(k)) die(`ps: ${k}: keyword not found\nps: no valid keywords; valid keywords:`);
    return { k, header: h === undefined ? k.toUpperCase() : h };
  });
  const st = ctx.st;
  const jids = new Set<number>();
  for (const s of sel.split(',')) {
    const j = findJail(st, s);
    if (!j) die(`ps: Invalid jail id: ${s}`);
    jids.add(j.jid);
  }
  const conmonOf = (pid: number) => Object.values(st.containers).find((c) => c.pid === pid)?.conmon?.pid ?? 1;
  const rows = Object.values(st.processes)
    .filter((p) => jids.has(p.jid))
    .sort((a, b) => a.pid - b.pid)
    .map((p) =>
      fields.map(({ k }) =>
        k === 'pid'
          ? String(p.pid)
          : k === 'ppid'
            ? String(p.container ? conmonOf(p.pid) : 1)
            : k === 'user'
              ? 'root'
              : k === 'cputime' || k === 'time'
                ? '0:00.00'
                : p.argv.join(' '),
      ),
    );
  const header = fields.some((f) => f.header !== '') ? `${fields.map((f) => f.header).join(' ')}\n` : '';
  return ok(header + rows.map((row) => `${row.join(' ')}\n`).join(''));
}
