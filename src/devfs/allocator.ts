/**
 * Allocation of devfs ruleset numbers to composed rulesets.
 *
 * Vocabulary: an *entry* is one ruleset number in use: its composed rules (canonical lines), their
 * hash, and the ids of the containers using it (its *users*). Containers whose composed rulesets
 * are identical (same hash) share one entry; an entry lives while it has a user.
 *
 * Contract:
 *   - acquire(container, ruleset) returns the number for that ruleset, reusing the entry with the
 *     same hash or creating one at the lowest free number in [first, first + max). `created` tells
 *     the caller to load the rules into the kernel (./commands.ts) before using the number. A
 *     container holds at most one entry: acquiring again with the same hash changes nothing;
 *     with another hash it first releases the old one (reported in `released`).
 *   - When `max` entries exist, or no number in the range is free, acquire throws
 *     ERR_DEVFS_RULESETS_EXHAUSTED and nothing has changed (no store call).
 *   - release(container) drops the container from its entry; `freed` tells the caller to delete
 *     the ruleset from the kernel (the entry is gone from the store).
 *   - Every change is written through the injected store (the daemon backs it with SQLite) before
 *     the method returns: save(entry) is an upsert keyed by number, remove(number) a delete.
 *   - reconcile(kernelSets) compares the entries with `devfs rule showsets` at start-up and says
 *     which entries to (re)load and which kernel rulesets in brig's range to delete (left over
 *     from a crash). Entries without users are dropped then. The range must belong to brig alone.
 *   - If the range shrinks in the configuration, entries outside it keep their numbers until
 *     freed; new entries honour the new range.
 * Not thread-safe across processes: one brigd owns a root (and its rulesets).
 */
import { BrigError } from '../errors/errors.ts';
import type { ComposedRuleset } from './compose.ts';

export interface RulesetEntry {
  readonly number: number;
  readonly hash: string;
  /** Canonical rules, one per element, in order. */
  readonly rules: readonly string[];
  /** Container ids using the ruleset, sorted. */
  readonly users: readonly string[];
}

export interface RulesetStore {
  load(): RulesetEntry[];
  save(entry: RulesetEntry): void;
  remove(number: number): void;
}

export interface RulesetRange {
  /** First ruleset number brig may use (>= 6: 1-5 are FreeBSD's defaults). */
  readonly first: number;
  /** Largest number of rulesets in use at once; numbers are first .. first + max - 1. */
  readonly max: number;
}

export interface Acquired {
  readonly number: number;
  readonly hash: string;
  /** A new entry: load its rules into the kernel. */
  readonly created: boolean;
  /** The container's previous ruleset, when acquire replaced it. */
  readonly released?: Released;
}

export interface Released {
  readonly number: number;
  /** No container uses it any more: delete it from the kernel. */
  readonly freed: boolean;
}

export interface Reconciliation {
  /** Entries the kernel lacks: load them. */
  readonly load: RulesetEntry[];
  /** Kernel rulesets brig owns (in its range, or stale entries) that no container uses: delete them. */
  readonly remove: number[];
}

/** A store kept in memory, for tests and for `--platform freebsd-simulated` without a database. */
export class MemoryRulesetStore implements RulesetStore {
  readonly entries = new Map<number, RulesetEntry>();
  load(): RulesetEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e, rules: [...e.rules], users: [...e.users] }));
  }
  save(entry: RulesetEntry): void {
    this.entries.set(entry.number, { ...entry, rules: [...entry.rules], users: [...entry.users] });
  }
  remove(number: number): void {
    this.entries.delete(number);
  }
}

interface Live {
  number: number;
  hash: string;
  rules: string[];
  users: Set<string>;
}

export class RulesetAllocator {
  readonly #store: RulesetStore;
  readonly #range: RulesetRange;
  readonly #byNumber = new Map<number, Live>();
  readonly #byHash = new Map<string, Live>();
  readonly #byUser = new Map<string, Live>();

  constructor(store: RulesetStore, range: RulesetRange) {
    if (
      !Number.isInteger(range.first) ||
      !Number.isInteger(range.max) ||
      range.first < 6 ||
      range.max < 1 ||
      range.first + range.max - 1 > 65535
    )
      throw new BrigError(
        'ERR_CONFIG_INVALID',
        `devfs ruleset range first=${range.first} max=${range.max} is not within 6..65535`,
      );
    this.#store = store;
    this.#range = range;
    for (const e of store.load()) {
      if (this.#byNumber.has(e.number) || this.#byHash.has(e.hash))
        throw new BrigError('ERR_DB', `devfs ruleset ${e.number} is recorded twice`);
      const live: Live = { number: e.number, hash: e.hash, rules: [...e.rules], users: new Set(e.users) };
      this.#byNumber.set(e.number, live);
      this.#byHash.set(e.hash, live);
      for (const u of e.users) this.#byUser.set(u, live);
    }
  }

  #save(l: Live): void {
    this.#store.save({ number: l.number, hash: l.hash, rules: [...l.rules], users: [...l.users].sort() });
  }

  #freeNumber(): number | undefined {
    if (this.#byNumber.size >= this.#range.max) return undefined;
    for (let n = this.#range.first; n < this.#range.first + this.#range.max; n++)
      if (!this.#byNumber.has(n)) return n;
    return undefined;
  }

  acquire(containerId: string, ruleset: ComposedRuleset): Acquired {
    const held = this.#byUser.get(containerId);
    if (held && held.hash === ruleset.hash) return { number: held.number, hash: held.hash, created: false };
    const existing = this.#byHash.get(ruleset.hash);
    let number: number | undefined;
    if (!existing) {
      // Releasing the old entry first could free a number; count it so that a full range still
      // lets a container move from one ruleset to another.
      const freeing = held && held.users.size === 1 ? held.number : undefined;
      number = this.#freeNumber();
      if (number === undefined && freeing !== undefined) number = freeing;
      if (number === undefined)
        throw new BrigError(
          'ERR_DEVFS_RULESETS_EXHAUSTED',
          `all ${this.#range.max} devfs ruleset numbers from ${this.#range.first} are in use`,
          { details: { first: this.#range.first, max: this.#range.max, inUse: this.#byNumber.size } },
        );
    }
    const released = held ? this.release(containerId) : undefined;
    let live = existing;
    let created = false;
    if (!live) {
      live = {
        number: number!,
        hash: ruleset.hash,
        rules: ruleset.canonical === '' ? [] : ruleset.canonical.split('\n'),
        users: new Set(),
      };
      this.#byNumber.set(live.number, live);
      this.#byHash.set(live.hash, live);
      created = true;
    }
    live.users.add(containerId);
    this.#byUser.set(containerId, live);
    this.#save(live);
    return released
      ? { number: live.number, hash: live.hash, created, released }
      : { number: live.number, hash: live.hash, created };
  }

  release(containerId: string): Released | undefined {
    const live = this.#byUser.get(containerId);
    if (!live) return undefined;
    this.#byUser.delete(containerId);
    live.users.delete(containerId);
    if (live.users.size > 0) {
      this.#save(live);
      return { number: live.number, freed: false };
    }
    this.#byNumber.delete(live.number);
    this.#byHash.delete(live.hash);
    this.#store.remove(live.number);
    return { number: live.number, freed: true };
  }

  /** Release every container not in `live` (containers gone while the daemon was down). */
  retain(live: Iterable<string>): Released[] {
    const keep = new Set(live);
    const out: Released[] = [];
    for (const id of [...this.#byUser.keys()]) if (!keep.has(id)) out.push(this.release(id)!);
    return out;
  }

  numberOf(containerId: string): number | undefined {
    return this.#byUser.get(containerId)?.number;
  }

  list(): RulesetEntry[] {
    return [...this.#byNumber.values()]
      .sort((a, b) => a.number - b.number)
      .map((l) => ({ number: l.number, hash: l.hash, rules: [...l.rules], users: [...l.users].sort() }));
  }

  reconcile(kernelSets: readonly number[]): Reconciliation {
    const inKernel = new Set(kernelSets);
    const remove = new Set<number>();
    for (const l of [...this.#byNumber.values()]) {
      if (l.users.size > 0) continue;
      this.#byNumber.delete(l.number);
      this.#byHash.delete(l.hash);
      this.#store.remove(l.number);
      if (inKernel.has(l.number)) remove.add(l.number);
    }
    const { first, max } = this.#range;
    for (const n of inKernel) if (n >= first && n < first + max && !this.#byNumber.has(n)) remove.add(n);
    const load = this.list().filter((e) => !inKernel.has(e.number));
    return { load, remove: [...remove].sort((a, b) => a - b) };
  }
}
