/**
 * brigd's YAML configuration. Every key has a default, so an empty file (or no file) works.
 * Unknown keys and wrong types are refused at start-up naming the key's path, what was found and
 * what was expected (ERR_CONFIG_INVALID). docs/configuration.md documents every key.
 *
 * Sections owned by other modules (policy, registries) embed those modules' schemas.
 */
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { parseDocument } from 'yaml';
import { BrigError } from '../errors/errors.ts';
import { policySchema } from '../policy/policy.ts';
import { registriesSchema } from '../registry/config.ts';

const octalMode = v.pipe(
  v.union([v.number(), v.pipe(v.string(), v.regex(/^0?[0-7]{3,4}$/))]),
  v.transform((m) => (typeof m === 'number' ? m : Number.parseInt(m, 8))),
);

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

function describe(received: string | undefined): string {
  return received ?? 'nothing';
}

/** Validates an already-parsed value (e.g. from tests). */
export function validateConfig(value: unknown, source = 'configuration'): DaemonConfig {
  const r = v.safeParse(configSchema, value ?? {});
  if (r.success) return r.output;
  const lines = r.issues.map((i) => {
    if (i.type === 'custom') {
      return `key \`${i.path?.map((p) => String(p.key)).join('.') ?? '(top level)'}\`: expected a mapping, found ${describe(i.received)}`;
    }
    const path = i.path?.map((p) => String(p.key)).join('.') ?? '(top level)';
    if (i.type === 'strict_object' && i.expected === 'never') {
      return `unknown key \`${path}\``;
    }
    return `key \`${path}\`: expected ${i.expected ?? i.message}, found ${describe(i.received)}`;
  });
  const first = r.issues[0]!;
  throw new BrigError('ERR_CONFIG_INVALID', `${source}: ${lines.join('; ')}`, {
    details: {
      key: first.path?.map((p) => String(p.key)).join('.') ?? '',
      // what was found and what was expected, for the first issue (the message has them all)
      found: describe(first.received),
      expected: first.type === 'custom' ? 'a mapping' : (first.expected ?? first.message),
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
  return validateConfig(value ?? {}, source);
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
