import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BrigError } from '../errors/errors.ts';
import { MemoryRulesetStore, RulesetAllocator, type RulesetEntry } from './allocator.ts';
import { type ComposedRuleset, compose } from './compose.ts';

const OPEN = ['include $devfsrules_hide_all', 'include $devfsrules_unhide_basic'];
const CLOSE = ['path mem hide'];
const SETS: ComposedRuleset[] = [
  [],
  ['path fuse unhide'],
  ["path 'tun*' unhide", "path 'bpf*' unhide"],
  ['path kvm unhide'],
].map((image) => compose(OPEN, image, CLOSE));

/** A store that counts calls and can be inspected. */
class CountingStore extends MemoryRulesetStore {
  calls = 0;
  override save(e: RulesetEntry): void {
    this.calls++;
    super.save(e);
  }
  override remove(n: number): void {
    this.calls++;
    super.remove(n);
  }
}

const exhausted = (e: unknown) => e instanceof BrigError && e.code === 'ERR_DEVFS_RULESETS_EXHAUSTED';

describe('RulesetAllocator', () => {
  test('200 containers over 3 distinct rulesets use exactly 3 numbers, and none once removed', () => {
    const store = new MemoryRulesetStore();
    const a = new RulesetAllocator(store, { first: 1000, max: 64 });
    const numbers = new Map<string, number>();
    let created = 0;
    for (let i = 0; i < 200; i++) {
      const set = SETS[i % 3]!;
      const r = a.acquire(`c${i}`, set);
      if (r.created) created++;
      if (numbers.has(set.hash)) assert.equal(r.number, numbers.get(set.hash));
      numbers.set(set.hash, r.number);
    }
    assert.equal(created, 3);
    assert.deepEqual([...new Set(numbers.values())].sort(), [1000, 1001, 1002]);
    assert.equal(a.list().length, 3);
    assert.equal(store.entries.size, 3);
    assert.deepEqual(
      a.list().map((e) => e.users.length),
      [67, 67, 66],
    );
    let freed = 0;
    for (let i = 0; i < 200; i++) if (a.release(`c${i}`)!.freed) freed++;
    assert.equal(freed, 3);
    assert.deepEqual(a.list(), []);
    assert.equal(store.entries.size, 0);
    assert.equal(a.release('c0'), undefined);
  });

  test('the stored entry holds the canonical rules and users', () => {
    const store = new MemoryRulesetStore();
    const a = new RulesetAllocator(store, { first: 2000, max: 4 });
    a.acquire('b', SETS[1]!);
    a.acquire('a', SETS[1]!);
    const e = store.entries.get(2000)!;
    assert.equal(e.hash, SETS[1]!.hash);
    assert.deepEqual(e.rules, SETS[1]!.canonical.split('\n'));
    assert.deepEqual(e.users, ['a', 'b']);
  });

  test('exhaustion throws ERR_DEVFS_RULESETS_EXHAUSTED and changes nothing', () => {
    const store = new CountingStore();
    const a = new RulesetAllocator(store, { first: 1000, max: 2 });
    a.acquire('x', SETS[0]!);
    a.acquire('y', SETS[1]!);
    const before = JSON.stringify(a.list());
    const calls = store.calls;
    assert.throws(() => a.acquire('z', SETS[2]!), exhausted);
    assert.equal(JSON.stringify(a.list()), before);
    assert.equal(store.calls, calls);
    assert.equal(a.numberOf('z'), undefined);
    assert.equal(a.numberOf('x'), 1000);
    // A ruleset already loaded can still be shared when the range is full.
    assert.equal(a.acquire('z', SETS[1]!).number, 1001);
  });

  test('a container moving to another ruleset releases the old one first, even in a full range', () => {
    const a = new RulesetAllocator(new MemoryRulesetStore(), { first: 1000, max: 1 });
    a.acquire('x', SETS[0]!);
    assert.deepEqual(a.acquire('x', SETS[0]!), { number: 1000, hash: SETS[0]!.hash, created: false });
    const r = a.acquire('x', SETS[1]!);
    assert.deepEqual(r, {
      number: 1000,
      hash: SETS[1]!.hash,
      created: true,
      released: { number: 1000, freed: true },
    });
    assert.deepEqual(
      a.list().map((e) => e.hash),
      [SETS[1]!.hash],
    );
  });

  test('the mapping survives a restart (a new allocator over the same store)', () => {
    const store = new MemoryRulesetStore();
    const a = new RulesetAllocator(store, { first: 1000, max: 8 });
    a.acquire('x', SETS[0]!);
    a.acquire('y', SETS[1]!);
    a.acquire('z', SETS[1]!);
    const b = new RulesetAllocator(store, { first: 1000, max: 8 });
    assert.deepEqual(b.list(), a.list());
    assert.deepEqual(b.acquire('w', SETS[1]!), { number: 1001, hash: SETS[1]!.hash, created: false });
    assert.equal(b.acquire('v', SETS[2]!).number, 1002);
    assert.deepEqual(b.retain(['x', 'v']), [
      { number: 1001, freed: false },
      { number: 1001, freed: false },
      { number: 1001, freed: true },
    ]);
    assert.deepEqual(
      b.list().map((e) => e.number),
      [1000, 1002],
    );
  });

  test('reconcile: load what the kernel lacks, delete what brig owns and nobody uses', () => {
    const store = new MemoryRulesetStore();
    store.save({ number: 1003, hash: 'h-unused', rules: ['hide'], users: [] });
    const a = new RulesetAllocator(store, { first: 1000, max: 8 });
    a.acquire('x', SETS[0]!); // 1000
    a.acquire('y', SETS[1]!); // 1001
    const r = a.reconcile([1, 2, 3, 4, 5, 999, 1000, 1003, 1005, 1008]);
    assert.deepEqual(
      r.load.map((e) => e.number),
      [1001],
    );
    assert.deepEqual(r.remove, [1003, 1005]); // 1008 is outside 1000..1007; 1-5 and 999 are not brig's
    assert.equal(store.entries.has(1003), false);
    assert.deepEqual(a.reconcile([1000, 1001]), { load: [], remove: [] });
  });

  test('range checks', () => {
    for (const range of [
      { first: 5, max: 10 },
      { first: 1000, max: 0 },
      { first: 65530, max: 10 },
      { first: 1.5, max: 2 },
    ])
      assert.throws(
        () => new RulesetAllocator(new MemoryRulesetStore(), range),
        (e: unknown) => e instanceof BrigError && e.code === 'ERR_CONFIG_INVALID',
      );
  });

  test('random acquire/release sequences keep the invariants (property)', () => {
    const op = fc.record({ container: fc.integer({ min: 0, max: 9 }), set: fc.integer({ min: -1, max: 3 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: 1, max: 4 }), (ops, max) => {
        const store = new CountingStore();
        const a = new RulesetAllocator(store, { first: 100, max });
        const holds = new Map<string, string>(); // container -> hash, the model
        for (const { container, set } of ops) {
          const id = `c${container}`;
          if (set < 0) {
            a.release(id);
            holds.delete(id);
            continue;
          }
          const hash = SETS[set]!.hash;
          const before = JSON.stringify(a.list());
          const calls = store.calls;
          const distinct = new Set([...holds.entries()].filter(([c]) => c !== id).map(([, h]) => h));
          const fits = distinct.has(hash) || distinct.size < max;
          try {
            a.acquire(id, SETS[set]!);
            assert.ok(fits, 'acquired beyond max');
            holds.set(id, hash);
          } catch (e) {
            assert.ok(exhausted(e) && !fits, String(e));
            assert.equal(JSON.stringify(a.list()), before);
            assert.equal(store.calls, calls);
          }
          const list = a.list();
          // One entry per distinct ruleset in use, numbered within the range, sharing by hash.
          assert.deepEqual(new Set(list.map((e) => e.hash)), new Set(holds.values()));
          for (const e of list) {
            assert.ok(e.number >= 100 && e.number < 100 + max);
            assert.deepEqual(
              e.users,
              [...holds.entries()]
                .filter(([, h]) => h === e.hash)
                .map(([c]) => c)
                .sort(),
            );
          }
          // The store holds exactly what the allocator holds.
          assert.deepEqual(
            [...store.entries.values()].sort((x, y) => x.number - y.number),
            list,
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
