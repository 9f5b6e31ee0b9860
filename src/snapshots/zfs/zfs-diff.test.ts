import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isBrigError } from '../../errors/errors.ts';
import { parseZfsDiff, parseZfsDiffEntries, unescapeZfsPath, type ZfsDiffOptions } from './zfs-diff.ts';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/zfs-diff');

interface Expected {
  options: ZfsDiffOptions;
  changes: { kind: string; path: string; rawPathHex?: string }[];
  renamedDirs: string[];
}

const cases = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, Expected>;

/** The escaping zfs applies (libzfs_diff.c stream_bytes), written independently of the parser. */
function zfsEscape(b: Buffer): string {
  let s = '';
  for (const c of b)
    s += c > 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\${c.toString(8).padStart(4, '0')}`;
  return s;
}

describe('parseZfsDiff on recorded outputs', () => {
  for (const [file, exp] of Object.entries(cases)) {
    test(file, () => {
      const raw = readFileSync(join(FIXTURES, file));
      for (const input of [raw, raw.toString('utf8')]) {
        const r = parseZfsDiff(input, exp.options);
        const got = r.changes.map((c) => ({
          kind: c.kind,
          path: c.path,
          ...(c.rawPath ? { rawPathHex: c.rawPath.toString('hex') } : {}),
        }));
        assert.deepEqual(got, exp.changes);
        assert.deepEqual(r.renamedDirs, exp.renamedDirs);
      }
    });
  }
});

describe('parseZfsDiffEntries', () => {
  test('keeps file types, link deltas, new paths and times', () => {
    const e = parseZfsDiffEntries(readFileSync(join(FIXTURES, 'basic.txt')));
    assert.equal(e.length, 8);
    assert.equal(e[6]!.fileType, '@');
    assert.equal(e[7]!.linkDelta, 1);
    const r = parseZfsDiffEntries(readFileSync(join(FIXTURES, 'renames.txt')));
    assert.equal(r[3]!.newPath!.toString(), '/var/db/brig/zfs/c1/srv/site');
    const t = parseZfsDiffEntries(readFileSync(join(FIXTURES, 'timestamps.txt')), { timestamps: true });
    assert.deepEqual(
      t.map((x) => x.ctime),
      ['1764440000.123456789', '1764440001.000000000', '5.000000001'],
    );
  });

  test('without -F the second field is the path', () => {
    const e = parseZfsDiffEntries('+\t/m/a\n-\t/m/b\n', { fileTypes: false });
    assert.deepEqual(
      e.map((x) => [x.change, x.path.toString()]),
      [
        ['+', '/m/a'],
        ['-', '/m/b'],
      ],
    );
  });

  for (const [name, line, opts] of [
    ['unknown change type', 'X\tF\t/m/a', {}],
    ['unknown file type', '+\tZ\t/m/a', {}],
    ['missing path', '+\tF', {}],
    ['extra field', '+\tF\t/m/a\t/m/b', {}],
    ['rename without new path', 'R\tF\t/m/a', {}],
    ['bad link delta', 'M\tF\t/m/a\t+1', {}],
    ['bad escape', '+\tF\t/m/a\\09', {}],
    ['escape beyond a byte', '+\tF\t/m/a\\777', {}],
    ['bad time', 'x.1\t+\tF\t/m/a', { timestamps: true }],
    ['empty line', '+\tF\t/m/a\n\n+\tF\t/m/b', {}],
  ] as const) {
    test(`refuses: ${name}`, () => {
      assert.throws(
        () => parseZfsDiffEntries(line, opts),
        (e: unknown) => isBrigError(e, 'ERR_ZFS_DIFF_PARSE'),
      );
    });
  }
});

describe('parseZfsDiff paths', () => {
  test('refuses a path outside the mountpoint and dot segments', () => {
    for (const out of ['+\tF\t/elsewhere/a\n', '+\tF\t/m2/a\n', '+\tF\t/m/../etc\n', '+\tF\t/m//a\n']) {
      assert.throws(
        () => parseZfsDiff(out, { mountpoint: '/m' }),
        (e: unknown) => isBrigError(e, 'ERR_ZFS_DIFF_PARSE'),
        out,
      );
    }
  });

  test('a trailing slash on the mountpoint is the same mountpoint', () => {
    assert.deepEqual(parseZfsDiff('+\tF\t/m/a\n', { mountpoint: '/m/' }).changes, [
      { kind: 'add', path: 'a' },
    ]);
  });

  test('any name survives escaping (property)', () => {
    const segment = fc
      .uint8Array({ minLength: 1, maxLength: 12 })
      .map((a) => Buffer.from(a.map((b) => (b === 0x2f || b === 0 ? 0x61 : b))))
      .filter((b) => b.toString('latin1') !== '.' && b.toString('latin1') !== '..');
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), (segs) => {
        const rel = Buffer.concat(segs.flatMap((s, i) => (i ? [Buffer.from('/'), s] : [s])));
        const full = Buffer.concat([Buffer.from('/pool/fs/'), rel]);
        assert.ok(unescapeZfsPath(zfsEscape(full)).equals(full));
        const [c] = parseZfsDiff(`+\tF\t${zfsEscape(full)}\n`, { mountpoint: '/pool/fs' }).changes;
        const bytes = c!.rawPath ?? Buffer.from(c!.path, 'utf8');
        assert.ok(bytes.equals(rel));
        if (!c!.rawPath) assert.equal(Buffer.from(c!.path).toString('hex'), rel.toString('hex'));
      }),
    );
  });

  test('a path removed then created is one modify; created then removed is nothing', () => {
    const r = parseZfsDiff('-\tF\t/m/a\n+\t/\t/m/a\n+\tF\t/m/b\n-\tF\t/m/b\n', { mountpoint: '/m' });
    assert.deepEqual(r.changes, [{ kind: 'modify', path: 'a' }]);
  });
});
