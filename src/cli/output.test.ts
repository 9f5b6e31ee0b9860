import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAgo, formatDuration, formatSize, printJson, printTable, shortId } from './output.ts';

type Out = typeof process.stdout;

function capture(f: (out: Out) => void): string {
  let s = '';
  const write = (c: string) => {
    s += c;
    return true;
  };
  f({ write } as unknown as Out);
  return s;
}

test('tables: a header, columns aligned on the widest cell, no trailing spaces', () => {
  const out = capture((w) =>
    printTable(
      [
        { a: 'x', b: 'long value', c: 1 },
        { a: 'longer', b: '', c: null },
      ],
      [
        { header: 'A', get: (r) => r.a },
        { header: 'B', get: (r) => r.b },
        { header: 'C', get: (r) => r.c },
      ],
      w,
    ),
  );
  assert.equal(out, 'A        B            C\nx        long value   1\nlonger\n');
  assert.equal(
    capture((w) => printJson([{ a: 1 }], w)),
    '[\n  {\n    "a": 1\n  }\n]\n',
  );
});

test('sizes, durations, ages and short ids read as docker prints them', () => {
  assert.equal(formatSize(0), '0B');
  assert.equal(formatSize(999), '999B');
  assert.equal(formatSize(1000), '1.00kB');
  assert.equal(formatSize(1_050_000), '1.05MB');
  assert.equal(formatSize(51_063_996), '51.1MB');
  assert.equal(formatSize(123_456_789_012), '123GB');
  assert.equal(formatSize(undefined), '');
  assert.equal(formatDuration(1000), '1 second');
  assert.equal(formatDuration(59_000), '59 seconds');
  assert.equal(formatDuration(60_000), 'About a minute');
  assert.equal(formatDuration(3 * 3600_000), '3 hours');
  assert.equal(formatDuration(3 * 86400_000), '3 days');
  assert.equal(formatAgo(1000, 61_000), 'About a minute ago');
  assert.equal(formatAgo(0), '');
  assert.equal(shortId(`sha256:${'ab'.repeat(32)}`), 'abababababab');
});
