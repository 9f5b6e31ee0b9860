/**
 * Cancel on disconnect: a signal that aborts when the client goes away before brigd has finished
 * answering (the CLI was interrupted, the connection closed or reset). Long requests (import,
 * pull) pass it down so brigd stops the work and undoes it instead of finishing it for nobody.
 *
 * The response's 'close' is the event to watch: it is emitted when the answer was sent or when
 * the connection closed first (the request's own 'close' only says that the body was consumed).
 * The reason is ERR_REQUEST_CANCELLED.
 */
import type { ServerResponse } from 'node:http';
import { BrigError } from '../errors/errors.ts';

export function cancelOnDisconnect(res: ServerResponse, what: string): AbortSignal {
  const ac = new AbortController();
  const gone = () => {
    if (res.writableFinished) return;
    ac.abort(new BrigError('ERR_REQUEST_CANCELLED', `the client went away: ${what} stopped and undone`));
  };
  if (res.destroyed || res.socket?.destroyed) gone();
  else res.once('close', gone);
  return ac.signal;
}
