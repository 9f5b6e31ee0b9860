/**
 * BrigError: the one error type that crosses module boundaries.
 *
 * - `code` is stable forever (tests and scripts match on it); the message may change.
 * - `kind` alone decides the HTTP status (src/api/status.ts) and the CLI exit code.
 * - `hint` tells the user the next step.
 * Every code lives in the catalogue (./catalogue.ts) with its kind and a one-line doc.
 */
import { CATALOGUE, type ErrorCode } from './catalogue.ts';

export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'permission-denied'
  | 'conflict'
  | 'unavailable'
  | 'internal';

export interface BrigErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Structured details safe to show (never credentials). */
  details?: Record<string, unknown>;
}

export class BrigError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: BrigErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BrigError';
    this.code = code;
    this.kind = CATALOGUE[code].kind;
    this.hint = opts.hint ?? CATALOGUE[code].hint;
    this.details = opts.details;
  }

  toJSON(): {
    code: string;
    kind: ErrorKind;
    message: string;
    hint?: string;
    details?: Record<string, unknown>;
  } {
    return {
      code: this.code,
      kind: this.kind,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export function isBrigError(e: unknown, code?: ErrorCode): e is BrigError {
  return e instanceof BrigError && (code === undefined || e.code === code);
}

/** Rebuild a BrigError from its JSON form (the API's error body). */
export function brigErrorFromJSON(body: {
  code: string;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}): BrigError {
  const code = (body.code in CATALOGUE ? body.code : 'ERR_INTERNAL') as ErrorCode;
  const err = new BrigError(code, body.message, { hint: body.hint, details: body.details });
  return err;
}

/** brigd's error from an HTTP answer's body (`{error: {...}}`), or ERR_INTERNAL with the body's start. */
export function brigErrorFromAnswer(status: number, body: Buffer): BrigError {
  try {
    const j = JSON.parse(body.toString('utf8')) as {
      error?: { code: string; message: string; hint?: string; details?: Record<string, unknown> };
    };
    if (j.error) return brigErrorFromJSON(j.error);
  } catch {}
  return new BrigError('ERR_INTERNAL', `brigd answered ${status}: ${body.toString('utf8').slice(0, 200)}`);
}

/** Translate a raw Node errno error into a BrigError where it arises. */
export function fromErrno(e: unknown, what: string): BrigError {
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (errno) {
    case 'ENOENT':
      return new BrigError('ERR_NOT_FOUND', `${what}: no such file or directory`, { cause: e });
    case 'EEXIST':
      return new BrigError('ERR_ALREADY_EXISTS', `${what}: already exists`, { cause: e });
    case 'EACCES':
    case 'EPERM':
      return new BrigError('ERR_PERMISSION_DENIED', `${what}: permission denied`, { cause: e });
    case 'ENOSPC':
      return new BrigError('ERR_NO_SPACE', `${what}: no space left on device`, { cause: e });
    default:
      return new BrigError('ERR_INTERNAL', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}

export { CATALOGUE, type ErrorCode };
