/**
 * Extended attributes without a native addon: Node has no xattr API, so brig batches them
 * through the `attr` package's tools, one process per layer rather than one per file:
 *
 * - `setXattrs` feeds `setfattr -h --restore=-` a dump (the format `getfattr -d` prints) naming
 *   every file and value of a whole layer; `-h` never follows a final symlink.
 * - `readXattrs` runs `getfattr -h -d -m - -e hex` over a list of paths (or `-R -P` over a
 *   whole tree) and parses the dump back.
 *
 * Paths in both directions are byte strings (see tar/tar.ts); names are byte strings; values
 * are raw bytes (hex on the wire, so binary values such as `security.capability` survive).
 */
import { BrigError } from '../errors/errors.ts';
import { type CommandRunner, hostRunner } from '../platform/exec.ts';

/** Path (byte string) -> attribute name (byte string) -> value. */
export type XattrTable = Map<string, Map<string, Buffer>>;

const SAFE = /^[A-Za-z0-9/._+@:,-]*$/;

/** The octal escaping getfattr uses and setfattr undoes, applied to every unsafe byte. */
function escapeAttr(s: string): string {
  if (SAFE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i]!;
    out += SAFE.test(ch) ? ch : `\\${c.toString(8).padStart(3, '0')}`;
  }
  return out;
}

function unescapeAttr(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\([0-7]{3}|\\)/g, (_m, g: string) =>
    g === '\\' ? '\\' : String.fromCharCode(Number.parseInt(g, 8)),
  );
}

/** Sets every attribute in `table` (absolute byte-string paths), in one `setfattr` process. */
export async function setXattrs(table: XattrTable, runner: CommandRunner = hostRunner): Promise<void> {
  if (table.size === 0) return;
  const parts: string[] = [];
  for (const [path, attrs] of table) {
    if (attrs.size === 0) continue;
    parts.push(`# file: ${escapeAttr(path)}\n`);
    for (const [name, value] of attrs) parts.push(`${escapeAttr(name)}=0x${value.toString('hex')}\n`);
    parts.push('\n');
  }
  if (parts.length === 0) return;
  await runner.run('setfattr', ['-h', '--restore=-'], { input: Buffer.from(parts.join(''), 'latin1') });
}

function parseDump(out: string, into: XattrTable, strip: string): void {
  let current: Map<string, Buffer> | null = null;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) {
      let p = unescapeAttr(line.slice(8));
      if (strip && p.startsWith(strip)) p = p.slice(strip.length);
      current = new Map();
      into.set(p, current);
      continue;
    }
    if (current === null || line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) {
      current.set(unescapeAttr(line), Buffer.alloc(0));
      continue;
    }
    const name = unescapeAttr(line.slice(0, eq));
    const v = line.slice(eq + 1);
    let value: Buffer;
    if (v.startsWith('0x')) value = Buffer.from(v.slice(2), 'hex');
    else if (v.startsWith('0s')) value = Buffer.from(v.slice(2), 'base64');
    else if (v.startsWith('"') && v.endsWith('"'))
      value = Buffer.from(unescapeAttr(v.slice(1, -1)), 'latin1');
    else value = Buffer.from(v, 'latin1');
    current.set(name, value);
  }
}

function isOnlyUnsupported(stderr: string): boolean {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .every((l) => /Operation not supported|No such attribute/.test(l));
}

/**
 * Reads the attributes of `paths` (byte strings relative to `cwd`, never following a final
 * symlink). Files without attributes are absent from the result.
 */
export async function readXattrs(
  cwd: string,
  paths: readonly string[],
  runner: CommandRunner = hostRunner,
): Promise<XattrTable> {
  const table: XattrTable = new Map();
  const BATCH = 500;
  for (let i = 0; i < paths.length; i += BATCH) {
    const batch = paths.slice(i, i + BATCH).map((p) => (p.startsWith('-') ? `./${p}` : p));
    // Paths reach getfattr as argv bytes: turn byte strings back into raw bytes via latin1.
    const args = ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', ...batch];
    const r = await runner.run('getfattr', args.map(latin1Arg), { cwd, check: false });
    const stderr = r.stderr.toString('utf8');
    if (r.code !== 0 && !isOnlyUnsupported(stderr)) {
      throw new BrigError('ERR_COMMAND_FAILED', `getfattr failed: ${stderr.trim().slice(0, 500)}`);
    }
    const parsed: XattrTable = new Map();
    parseDump(r.stdout.toString('latin1'), parsed, '');
    for (const [p, attrs] of parsed) table.set(p.startsWith('./') ? p.slice(2) : p, attrs);
  }
  return table;
}

/** Reads the attributes of every file under `dir` (one process; paths relative to `dir`). */
export async function readXattrsTree(dir: string, runner: CommandRunner = hostRunner): Promise<XattrTable> {
  const r = await runner.run(
    'getfattr',
    ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '.'],
    {
      cwd: dir,
      check: false,
    },
  );
  const stderr = r.stderr.toString('utf8');
  if (r.code !== 0 && !isOnlyUnsupported(stderr)) {
    throw new BrigError('ERR_COMMAND_FAILED', `getfattr failed: ${stderr.trim().slice(0, 500)}`);
  }
  const table: XattrTable = new Map();
  parseDump(r.stdout.toString('latin1'), table, '');
  const out: XattrTable = new Map();
  for (const [p, attrs] of table) {
    const rel = p === '.' ? '' : p.startsWith('./') ? p.slice(2) : p;
    out.set(rel, attrs);
  }
  return out;
}

/**
 * Node encodes string arguments as UTF-8; a byte string with bytes >= 0x80 must reach the child
 * as those raw bytes. Node's spawn has no Buffer argv, so such names cannot be passed as
 * arguments: callers avoid this by using `readXattrsTree` or ASCII paths. Here we keep valid
 * UTF-8 byte strings working by decoding them.
 */
function latin1Arg(s: string): string {
  if (!/[\x80-\xff]/.test(s)) return s;
  const b = Buffer.from(s, 'latin1');
  const u = b.toString('utf8');
  if (Buffer.from(u, 'utf8').equals(b)) return u;
  throw new BrigError('ERR_INVALID_ARGUMENT', 'a path that is not valid UTF-8 cannot be passed to getfattr', {
    details: { path: u },
  });
}
