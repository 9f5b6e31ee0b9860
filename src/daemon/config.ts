/**
 * brigd's YAML configuration. Every key has a default, so an empty file (or no file) works.
 * Unknown keys and wrong types are refused at start-up naming the key's path, what was found and
 * what was expected (ERR_CONFIG_INVALID). docs/configuration.md documents every key.
 *
 * Sections owned by other modules (policy, registries) embed those modules' schemas.
 */
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { isScalar, parseDocument } from 'yaml';
import { BrigError } from '../errors/errors.ts';
import { policySchema } from '../policy/policy.ts';
import { registriesSchema } from '../registry/config.ts';

/**
 * A file mode as an operator writes it: octal digits, at most 0777. YAML 1.2 reads an unquoted
 * `0660` as decimal 660 (a world-writable socket), so parseConfigText hands the key's source text
 * to this schema instead of YAML's number: `0660`, `660`, `"0660"` and `0o660` all mean 0o660;
 * `0999`, `0x1b0` and `1777` are refused. A number given directly (a configuration value built in
 * code, not read from YAML) is taken as the mode itself.
 */
export const OCTAL_MODE_EXPECTED = 'an octal mode such as "0660" (digits 0-7, at most 0777)';
const octalMode = v.union(
  [
    v.pipe(
      v.string(),
      // one to three octal digits after an optional 0 or 0o: at most 0777 by construction
      v.regex(/^(?:0o|0)?[0-7]{1,3}$/, OCTAL_MODE_EXPECTED),
      v.transform((m) => Number.parseInt(m.replace(/^0o/, ''), 8)),
    ),
    v.pipe(
      v.number(),
      v.integer(OCTAL_MODE_EXPECTED),
      v.minValue(0, OCTAL_MODE_EXPECTED),
      v.maxValue(0o777, OCTAL_MODE_EXPECTED),
    ),
  ],
  OCTAL_MODE_EXPECTED,
);

/** Keys whose YAML numbers are read from their source text (see octalMode). */
const MODE_KEYS: ReadonlyArray<readonly string[]> = [['socket', 'mode']];

/** A YAML mapping with exactly these keys (an array is refused as such, not as key `0`). */
function section<T extends v.ObjectEntries>(entries: T) {
  return v.pipe(
    v.custom<Record<string, unknown>>(
      (x) => typeof x === 'object' && x !== null && !Array.isArray(x),
      'a mapping',
    ),
    v.strictObject(entries),
  );
}

export const configSchema = section({
  socket: v.optional(
    section({
      /** Group that may use the API socket (name or gid); root only when unset. */
      group: v.optional(v.union([v.string(), v.number()])),
      mode: v.optional(octalMode, 0o660),
    }),
    {},
  ),
  log: v.optional(
    section({
      level: v.optional(v.picklist(['debug', 'info', 'warn', 'error']), 'info'),
    }),
    {},
  ),
  /** Groups whose members may administer the daemon (e.g. use --grant); root always may. */
  admin: v.optional(section({ groups: v.optional(v.array(v.string()), []) }), {}),
  storage: v.optional(
    section({
      driver: v.optional(v.picklist(['auto', 'overlay', 'native', 'zfs']), 'auto'),
      zfs: v.optional(section({ dataset: v.optional(v.string()) }), {}),
    }),
    {},
  ),
  runtime: v.optional(
    section({
      /** OCI runtime: auto probes what works on this host. */
      name: v.optional(v.picklist(['auto', 'runc', 'crun', 'ocijail', 'runj']), 'auto'),
      path: v.optional(v.string()),
      conmon: v.optional(v.string()),
      /**
       * Linux seccomp: `default` (brig's profile, src/platform/linux/seccomp.ts), `unconfined`
       * (none but the SysV IPC filter), or the absolute path of a runtime-spec LinuxSeccomp JSON.
       */
      seccomp: v.optional(
        v.union([
          v.picklist(['default', 'unconfined']),
          v.pipe(v.string(), v.startsWith('/', 'default, unconfined or an absolute path')),
        ]),
        'default',
      ),
    }),
    {},
  ),
  events: v.optional(
    section({ retain: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100)), 10000) }),
    {},
  ),
  /** Registries (src/registry/config.ts; docs/registries.md). */
  registries: registriesSchema,
  /** Host policy (src/policy/policy.ts; docs/privileges.md): unknown keys refused at start. */
  policy: v.optional(policySchema, {}),
});

export type DaemonConfig = v.InferOutput<typeof configSchema>;

/** What the file holds, in words (valibot's `received` is terse: `Array`, or one character). */
function describeValue(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'an empty value';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return JSON.stringify(input);
  return String(input);
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  Array: 'a list',
  Object: 'a mapping',
  null: 'an empty value',
};

/** valibot's `(string | number)` or `("a" | "b")` as `a string or a number`, `"a" or "b"`. */
function alternatives(expected: string): string {
  const parts = expected
    .replace(/^\((.*)\)$/, '$1')
    .split(' | ')
    .map((p) => TYPE_WORDS[p] ?? p);
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} or ${parts.at(-1)}`;
}

/** What was expected, in plain words. */
function expectedText(i: v.BaseIssue<unknown>): string {
  // a message given in the schema (e.g. 'a mapping', OCTAL_MODE_EXPECTED) says it best
  if (!i.message.startsWith('Invalid ')) return i.message;
  const requirement = (i as { requirement?: unknown }).requirement;
  switch (i.type) {
    case 'integer':
      return 'a whole number';
    case 'min_value':
      return `a number of at least ${String(requirement)}`;
    case 'max_value':
      return `a number of at most ${String(requirement)}`;
    case 'picklist':
      return `one of ${alternatives(i.expected ?? '')}`;
    default:
      return i.expected ? alternatives(i.expected) : i.message;
  }
}

/** Validates an already-parsed value (e.g. from tests). */
export function validateConfig(
  value: unknown,
  source = 'configuration',
  /** Keys whose value is the YAML source text of an unquoted scalar: shown as written. */
  unquoted: ReadonlySet<string> = new Set(),
): DaemonConfig {
  const r = v.safeParse(configSchema, value ?? {});
  if (r.success) return r.output;
  const keyOf = (i: v.BaseIssue<unknown>) => i.path?.map((p) => String(p.key)).join('.') ?? '(top level)';
  const found = (i: v.BaseIssue<unknown>) =>
    unquoted.has(keyOf(i)) && typeof i.input === 'string' ? i.input : describeValue(i.input);
  const lines = r.issues.map((i) => {
    if (i.type === 'strict_object' && i.expected === 'never') return `unknown key \`${keyOf(i)}\``;
    return `key \`${keyOf(i)}\`: expected ${expectedText(i)}, found ${found(i)}`;
  });
  const first = r.issues[0]!;
  const unknown = first.type === 'strict_object' && first.expected === 'never';
  throw new BrigError('ERR_CONFIG_INVALID', `${source}: ${lines.join('; ')}`, {
    details: {
      key: first.path?.map((p) => String(p.key)).join('.') ?? '',
      // what was found and what was expected, for the first issue (the message has them all)
      found: unknown ? `the key ${keyOf(first)}` : found(first),
      expected: unknown ? 'a key listed in docs/configuration.md' : expectedText(first),
      issues: lines,
    },
  });
}

export function parseConfigText(text: string, source: string): DaemonConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new BrigError(
      'ERR_CONFIG_UNREADABLE',
      `${source}${pos ? `:${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`,
    );
  }
  const value = doc.toJS() as unknown;
  if (value !== null && value !== undefined && (typeof value !== 'object' || Array.isArray(value))) {
    throw new BrigError('ERR_CONFIG_INVALID', `${source}: the top level must be a mapping of keys`);
  }
  // a mode key's unquoted number is validated as the digits written, not as YAML's decimal
  const unquoted = new Set<string>();
  for (const path of MODE_KEYS) {
    const node = doc.getIn(path, true);
    const parent = doc.getIn(path.slice(0, -1)) as unknown;
    if (isScalar(node) && typeof node.value === 'number' && parent && typeof parent === 'object') {
      const written = node.range ? text.slice(node.range[0], node.range[1]) : String(node.value);
      (value as Record<string, Record<string, unknown>>)[path[0]!]![path[1]!] = written;
      unquoted.add(path.join('.'));
    }
  }
  return validateConfig(value ?? {}, source, unquoted);
}

/** Loads the file; a missing file at the default location means all defaults. */
export async function loadConfig(path: string, opts: { required: boolean }): Promise<DaemonConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !opts.required) return validateConfig({});
    throw new BrigError(
      'ERR_CONFIG_UNREADABLE',
      `cannot read configuration ${path}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return parseConfigText(text, path);
}
