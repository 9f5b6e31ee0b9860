/**
 * The fast forms of `brig run`, `brig push` and `brig pull` for the CommonJS entry: bundled on
 * their own as dist/brig-fast.cjs, which dist/brig.cjs (./main-cjs.ts) requires only for these
 * verbs, so `brig --version` does not compile them. Each resolves to the exit status, or to
 * undefined when the arguments are not a form it takes (the caller then loads the program).
 * Modules are evaluated only for the verb that needs them.
 */
export function runFast(args: readonly string[]): Promise<number | undefined> {
  return import('./commands/run-fast.ts').then((f) => f.runFast(args));
}

export function registryFast(args: readonly string[]): Promise<number | undefined> {
  return import('./commands/registry-fast.ts').then((f) => f.registryFast(args));
}
