/**
 * Small, pure helpers that validate unknown JSON into typed values, failing with a BrigError that
 * names the field path (`manifests[2].digest`) and says what was wrong. Used by the OCI models
 * (ERR_IMAGE_INVALID) and the brig section (ERR_BRIG_SECTION_INVALID).
 */
import { BrigError, type ErrorCode } from '../errors/errors.ts';

export type JsonObject = Record<string, unknown>;

export class Checker {
  constructor(
    readonly code: ErrorCode,
    /** Names the document in messages, e.g. "manifest sha256:ab…" */
    readonly what: string,
  ) {}

  fail(path: string, problem: string, code: ErrorCode = this.code): never {
    const where = path === '' ? this.what : `${this.what}: ${path}`;
    throw new BrigError(code, `${where}: ${problem}`, { details: { field: path || '.', problem } });
  }

  object(v: unknown, path: string): JsonObject {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      this.fail(path, `expected an object, found ${describe(v)}`);
    return v as JsonObject;
  }

  string(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, `expected a string, found ${describe(v)}`);
    return v;
  }

  nonEmptyString(v: unknown, path: string): string {
    const s = this.string(v, path);
    if (s === '') this.fail(path, 'must not be empty');
    return s;
  }

  optString(v: unknown, path: string): string | undefined {
    return v === undefined ? undefined : this.string(v, path);
  }

  boolean(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, `expected true or false, found ${describe(v)}`);
    return v;
  }

  optBoolean(v: unknown, path: string): boolean | undefined {
    return v === undefined ? undefined : this.boolean(v, path);
  }

  integer(v: unknown, path: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v))
      this.fail(path, `expected an integer, found ${describe(v)}`);
    if (v < min || v > max) this.fail(path, `${v} is out of range ${min}..${max}`);
    return v;
  }

  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `expected an array, found ${describe(v)}`);
    return v;
  }

  stringArray(v: unknown, path: string): string[] {
    return this.array(v, path).map((x, i) => this.string(x, `${path}[${i}]`));
  }

  /** An array of strings, or null/absent (docker writes null for "unset"). */
  optStringArray(v: unknown, path: string): string[] | undefined {
    return v === undefined || v === null ? undefined : this.stringArray(v, path);
  }

  stringMap(v: unknown, path: string): Record<string, string> {
    const o = this.object(v, path);
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(o)) out[k] = this.string(x, join(path, k));
    return out;
  }

  optStringMap(v: unknown, path: string): Record<string, string> | undefined {
    return v === undefined || v === null ? undefined : this.stringMap(v, path);
  }

  /** `{ "k": {} }` sets as docker writes ExposedPorts and Volumes. */
  optEmptyObjectSet(v: unknown, path: string): Record<string, Record<string, never>> | undefined {
    if (v === undefined || v === null) return undefined;
    const o = this.object(v, path);
    const out: Record<string, Record<string, never>> = {};
    for (const [k, x] of Object.entries(o)) {
      this.object(x, join(path, k));
      out[k] = {};
    }
    return out;
  }

  /** Refuses keys not in `allowed` (for documents brig owns, like the brig section). */
  onlyKeys(o: JsonObject, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(join(path, k), `unknown field (known: ${allowed.join(', ')})`);
    }
  }
}

/** Path segment for an object key: `.name` when it is an identifier, `["8080/tcp"]` otherwise. */
export function key(k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}

export function join(path: string, k: string): string {
  const seg = key(k);
  return path === '' && seg.startsWith('.') ? seg.slice(1) : `${path}${seg}`;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `a string "${v.slice(0, 40)}…"` : `"${v}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
