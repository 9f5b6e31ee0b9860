/**
 * The one place where an error becomes an HTTP status. Only the error's kind decides.
 */
import type { ErrorKind } from '../errors/errors.ts';

export const STATUS_BY_KIND: Record<ErrorKind, number> = {
  'invalid-argument': 400,
  'permission-denied': 403,
  'not-found': 404,
  'already-exists': 409,
  conflict: 409,
  'failed-precondition': 412,
  internal: 500,
  unavailable: 503,
};
