/**
 * Waiting in tests for something that happens in another process or on a timer: `fn` is asked
 * again every `everyMs` until it answers (anything but `undefined` or `false`); after
 * `timeoutMs` the wait fails, naming `what`. Not a time limit on the test: a guard against a
 * wait that would never end.
 */
export async function pollFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs, everyMs }: { timeoutMs: number; everyMs: number },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
