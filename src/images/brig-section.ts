/**
 * The image config's `brig` section (design §7; documented field by field in docs/image-format.md):
 * parsed from unknown JSON into a typed value with every default filled in. Pure.
 *
 * Unlike the OCI documents, the brig section is brig's own: unknown fields are refused (a typo
 * such as `readonly` for `readOnly` must not silently drop a setting). Errors are
 * ERR_BRIG_SECTION_INVALID with the field path, e.g. `brig.volumes.data.destination`.
 *
 * The privileges are parsed by the policy module (src/policy/privileges.ts), which owns their
 * vocabulary: see parsePrivileges below for the error codes it adds.
 */
import { parsePrivileges as parsePolicyPrivileges, type RequestedPrivileges } from '../policy/privileges.ts';
import { Checker, type JsonObject, join } from './check.ts';

export interface BrigEntrypoint {
  args: string[];
  description?: string;
  usage?: string;
  workdir?: string;
  user?: string;
  env: Record<string, string>;
}

export interface BrigParameter {
  description?: string;
  required: boolean;
  default?: string;
  secret: boolean;
}

export interface BrigVolume {
  destination: string;
  description?: string;
  required: boolean;
  readOnly: boolean;
}

export interface BrigPort {
  description?: string;
}

/** The requested privileges, as src/policy parses them (canonical devfs rules, sorted allow names). */
export type BrigPrivileges = RequestedPrivileges;

export interface BrigSection {
  version: 1;
  description?: string;
  entrypoints: Record<string, BrigEntrypoint>;
  defaultEntrypoint?: string;
  parameters: Record<string, BrigParameter>;
  volumes: Record<string, BrigVolume>;
  ports: Record<string, BrigPort>;
  privileges: BrigPrivileges;
}

const TOP_KEYS = [
  'version',
  'description',
  'entrypoints',
  'defaultEntrypoint',
  'parameters',
  'volumes',
  'ports',
  'privileges',
];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ITEM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** An empty section: what an image without `brig` gets. */
export function emptyBrigSection(): BrigSection {
  return {
    version: 1,
    entrypoints: {},
    parameters: {},
    volumes: {},
    ports: {},
    privileges: { devfs: [], allow: [], sysvipc: {}, vnet: false, childrenMax: 0 },
  };
}

function absolutePath(c: Checker, v: unknown, path: string): string {
  const s = c.nonEmptyString(v, path);
  if (!s.startsWith('/')) c.fail(path, `"${s}" is not an absolute path`);
  if (s.split('/').includes('..')) c.fail(path, `"${s}" must not contain ".."`);
  if (s.includes('\0')) c.fail(path, 'must not contain a NUL byte');
  return s;
}

function named<T>(
  c: Checker,
  v: unknown,
  path: string,
  nameRe: RegExp,
  what: string,
  each: (o: JsonObject, p: string, k: string) => T,
): Record<string, T> {
  if (v === undefined) return {};
  const o = c.object(v, path);
  const out: Record<string, T> = {};
  for (const [k, x] of Object.entries(o)) {
    const p = join(path, k);
    if (!nameRe.test(k)) c.fail(p, `"${k}" is not a valid ${what}`);
    out[k] = each(c.object(x, p), p, k);
  }
  return out;
}

/**
 * Parses `config.brig` (pass the raw value; undefined gives the empty section).
 */
export function parseBrigSection(raw: unknown): BrigSection {
  if (raw === undefined) return emptyBrigSection();
  const c: Checker = new Checker('ERR_BRIG_SECTION_INVALID', 'image config');
  const root = 'brig';
  const o = c.object(raw, root);
  c.onlyKeys(o, root, TOP_KEYS);
  const p = (k: string) => join(root, k);

  if (o.version !== undefined && o.version !== 1)
    c.fail(p('version'), `expected 1, found ${JSON.stringify(o.version)}`);
  const section = emptyBrigSection();
  const description = c.optString(o.description, p('description'));
  if (description !== undefined) section.description = description;

  section.entrypoints = named(c, o.entrypoints, p('entrypoints'), ITEM_NAME, 'entry point name', (e, ep) => {
    c.onlyKeys(e, ep, ['args', 'description', 'usage', 'workdir', 'user', 'env']);
    const args = c.stringArray(e.args, join(ep, 'args'));
    if (args.length === 0) c.fail(join(ep, 'args'), 'must name at least the program to run');
    const out: BrigEntrypoint = { args, env: {} };
    const d = c.optString(e.description, join(ep, 'description'));
    if (d !== undefined) out.description = d;
    const u = c.optString(e.usage, join(ep, 'usage'));
    if (u !== undefined) out.usage = u;
    if (e.workdir !== undefined) out.workdir = absolutePath(c, e.workdir, join(ep, 'workdir'));
    if (e.user !== undefined) out.user = c.nonEmptyString(e.user, join(ep, 'user'));
    if (e.env !== undefined) {
      out.env = c.stringMap(e.env, join(ep, 'env'));
      for (const k of Object.keys(out.env))
        if (!ENV_NAME.test(k)) c.fail(join(join(ep, 'env'), k), `"${k}" is not an environment variable name`);
    }
    return out;
  });

  if (o.defaultEntrypoint !== undefined) {
    const d = c.nonEmptyString(o.defaultEntrypoint, p('defaultEntrypoint'));
    if (!(d in section.entrypoints))
      c.fail(
        p('defaultEntrypoint'),
        `"${d}" is not one of the entrypoints (${Object.keys(section.entrypoints).join(', ') || 'none'})`,
      );
    section.defaultEntrypoint = d;
  }

  section.parameters = named(
    c,
    o.parameters,
    p('parameters'),
    ENV_NAME,
    'parameter (environment variable) name',
    (e, ep) => {
      c.onlyKeys(e, ep, ['description', 'required', 'default', 'secret']);
      const out: BrigParameter = {
        required: c.optBoolean(e.required, join(ep, 'required')) ?? false,
        secret: c.optBoolean(e.secret, join(ep, 'secret')) ?? false,
      };
      const d = c.optString(e.description, join(ep, 'description'));
      if (d !== undefined) out.description = d;
      const def = c.optString(e.default, join(ep, 'default'));
      if (def !== undefined) {
        if (out.required) c.fail(join(ep, 'default'), 'a required parameter cannot have a default');
        out.default = def;
      }
      return out;
    },
  );

  const destinations = new Map<string, string>();
  section.volumes = named(c, o.volumes, p('volumes'), ITEM_NAME, 'volume name', (e, ep) => {
    c.onlyKeys(e, ep, ['destination', 'description', 'required', 'readOnly']);
    const destination = absolutePath(c, e.destination, join(ep, 'destination'));
    const norm = destination.replace(/\/+$/, '') || '/';
    if (norm === '/') c.fail(join(ep, 'destination'), 'a volume cannot be mounted on /');
    const other = destinations.get(norm);
    if (other !== undefined)
      c.fail(join(ep, 'destination'), `"${destination}" is also the destination of ${other}`);
    destinations.set(norm, ep);
    const out: BrigVolume = {
      destination,
      required: c.optBoolean(e.required, join(ep, 'required')) ?? false,
      readOnly: c.optBoolean(e.readOnly, join(ep, 'readOnly')) ?? false,
    };
    const d = c.optString(e.description, join(ep, 'description'));
    if (d !== undefined) out.description = d;
    return out;
  });

  section.ports = named(
    c,
    o.ports,
    p('ports'),
    /^\d{1,5}\/(tcp|udp|sctp)$/,
    'port (PORT/tcp, PORT/udp or PORT/sctp)',
    (e, ep, k) => {
      const port = Number(k.split('/')[0]);
      if (!(port >= 1 && port <= 65535)) c.fail(ep, 'the port must be 1..65535');
      c.onlyKeys(e, ep, ['description']);
      const d = c.optString(e.description, join(ep, 'description'));
      return d === undefined ? {} : { description: d };
    },
  );

  if (o.privileges !== undefined) section.privileges = parsePrivileges(c, o.privileges, p('privileges'));
  return section;
}

function parsePrivileges(_c: Checker, v: unknown, path: string): BrigPrivileges {
  // The vocabulary (allow.* names of jail(8), devfs(8) rule syntax, SysV IPC modes) is the policy
  // module's: its errors are ERR_BRIG_SECTION_INVALID (shape), ERR_PRIVILEGE_INVALID (a value
  // outside the vocabulary) or ERR_DEVFS_RULE_INVALID, each with details.field.
  return parsePolicyPrivileges(v, path);
}
