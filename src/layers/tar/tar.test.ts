import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { rawHeader } from '../../../test/support/tar.ts';
import { isBrigError } from '../../errors/errors.ts';
import { DATA, END, ENTRY, ENTRY_END, NEED_MORE, parseNumeric, TarReader } from './reader.ts';
import { type TarEntry, tarEntry } from './tar.ts';
import { encodeHeader, endOfArchive, padding } from './writer.ts';

type Input = Partial<TarEntry> & { name: string; data?: Buffer };

function entry(input: Input): TarEntry {
  const { data, ...i } = input;
  const type = i.type ?? 'file';
  return tarEntry({
    mode: 0o644,
    mtime: 1700000000,
    ...i,
    type,
    size: type === 'file' ? (data?.length ?? 0) : 0,
  });
}

function archive(inputs: Input[]): Buffer {
  const parts: Buffer[] = [];
  for (const i of inputs) {
    const e = entry(i);
    parts.push(encodeHeader(e));
    if (e.size > 0) parts.push(i.data!, padding(e.size));
  }
  parts.push(endOfArchive());
  return Buffer.concat(parts);
}

interface Read {
  entry: TarEntry;
  data: Buffer;
}

/** Reads an archive fed in chunks of `chunk` bytes. */
function readAll(buf: Buffer, chunk = buf.length): Read[] {
  const r = new TarReader();
  const out: Read[] = [];
  let parts: Buffer[] = [];
  let ended = false;
  for (let off = 0; off < buf.length; off += chunk) {
    r.feed(buf.subarray(off, off + chunk));
    for (let ev = r.next(); ev !== NEED_MORE; ev = r.next()) {
      if (ev === ENTRY) parts = [];
      else if (ev === DATA) parts.push(Buffer.from(r.data));
      else if (ev === ENTRY_END) out.push({ entry: r.entry!, data: Buffer.concat(parts) });
      else if (ev === END) ended = true;
    }
  }
  r.finish();
  assert.ok(ended, 'end marker seen');
  return out;
}

/** A header with GNU's magic (`ustar  \0`), as GNU tar writes for L, K, g and S. */
const header = (name: string, flag: string, size: number, extra: (b: Buffer) => void = () => {}): Buffer =>
  rawHeader(name, flag, size, { mtime: 0o14543411400, magic: 'ustar  \0', extra });

function paxRec(kv: string): Buffer {
  const body = Buffer.byteLength(kv, 'latin1') + 2;
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len++;
  return Buffer.from(`${len} ${kv}\n`, 'latin1');
}

function block(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

describe('tar codec', () => {
  test('round trip of every type, long names, big ids, binary xattrs, in any chunking', () => {
    const long = `${'d'.repeat(120)}/${'e'.repeat(140)}/${'f'.repeat(60)}`;
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    const inputs: Input[] = [
      { name: 'dir/', type: 'dir', mode: 0o1777 },
      { name: 'dir/file', data: Buffer.from('hello\n'), mode: 0o4755, uid: 7654321, gid: 7654321 },
      { name: long, data: Buffer.alloc(3000, 7) },
      { name: 'link', type: 'symlink', linkname: `/abs/${'x'.repeat(200)}` },
      { name: 'hard', type: 'hardlink', linkname: 'dir/file' },
      { name: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'big-dev', type: 'block', devmajor: 4000000, devminor: 70000 },
      { name: 'fifo', type: 'fifo' },
      {
        name: 'caps',
        data: Buffer.from('x'),
        xattrs: new Map([
          ['security.capability', cap],
          ['user.k', Buffer.from([0, 255, 10])],
        ]),
      },
      { name: '\xff\xfe-not-utf8', data: Buffer.from('raw') },
      { name: 'old', mtime: -5 },
      { name: 'future', mtime: 2 ** 36 },
    ];
    const tar = archive(inputs);
    for (const chunk of [tar.length, 512, 100, 7, 1]) {
      const got = readAll(tar, chunk);
      assert.equal(got.length, inputs.length);
      for (let i = 0; i < inputs.length; i++) {
        const want = entry(inputs[i]!);
        const g = got[i]!;
        assert.deepEqual(
          { ...g.entry, xattrs: null },
          { ...want, xattrs: null },
          `entry ${i} at chunk ${chunk}`,
        );
        assert.deepEqual(g.entry.xattrs, want.xattrs);
        assert.deepEqual(g.data, inputs[i]!.data ?? Buffer.alloc(0));
      }
    }
  });

  test('the writer is deterministic and uses PAX only where needed', () => {
    const small = encodeHeader(entry({ name: 'a/b', data: Buffer.from('x') }));
    assert.equal(small.length, 512);
    assert.equal(small.toString('latin1', 257, 263), 'ustar\0');
    const big = encodeHeader(entry({ name: 'a', uid: 2 ** 22 }));
    assert.equal(big[156], 0x78);
    assert.ok(big.toString('latin1').includes(`uid=${2 ** 22}\n`));
    assert.deepEqual(
      encodeHeader(entry({ name: 'x'.repeat(300) })),
      encodeHeader(entry({ name: 'x'.repeat(300) })),
    );
  });

  test('GNU long names and links, base-256 numbers, global PAX headers', () => {
    const longName = `${'n'.repeat(150)}/file`;
    const longLink = 't'.repeat(180);
    const L = Buffer.from(`${longName}\0`);
    const K = Buffer.from(`${longLink}\0`);
    const g = paxRec('uid=1234567890');
    const tar = Buffer.concat([
      header('././@LongLink', 'L', L.length),
      block(L),
      header('././@LongLink', 'K', K.length),
      block(K),
      header('trunc', '2', 0),
      header('b256', '0', 0, (b) => {
        b.fill(0, 108, 116);
        b[108] = 0x80;
        b.writeUIntBE(7654321, 113, 3);
      }),
      header('pax_global_header', 'g', g.length),
      block(g),
      header('after-global', '0', 0),
      Buffer.alloc(1024),
    ]);
    const got = readAll(tar, 333);
    assert.equal(got[0]!.entry.name, longName);
    assert.equal(got[0]!.entry.linkname, longLink);
    assert.equal(got[0]!.entry.type, 'symlink');
    assert.equal(got[0]!.entry.uid, 0);
    assert.equal(got[1]!.entry.uid, 7654321);
    assert.equal(got[1]!.entry.name, 'b256');
    assert.equal(got[2]!.entry.uid, 1234567890, 'a global PAX value applies to every later entry');
  });

  test('sizes beyond the 8 GiB octal field travel in PAX', () => {
    const big = 2 ** 34 + 5;
    const h = encodeHeader({ ...entry({ name: 'huge' }), size: big });
    assert.ok(h.toString('latin1').includes(`size=${big}\n`));
    const r = new TarReader();
    r.feed(h);
    assert.equal(r.next(), ENTRY);
    assert.equal(r.entry!.size, big);
    assert.equal(r.next(), NEED_MORE);
  });

  test('parseNumeric: octal with padding, base-256, garbage', () => {
    assert.equal(parseNumeric(Buffer.from(' 0755 \0'), 0, 7, 'mode'), 0o755);
    assert.equal(parseNumeric(Buffer.from('\0\0\0\0'), 0, 4, 'mode'), 0);
    assert.equal(parseNumeric(Buffer.from([0x80, 0, 0, 0, 0, 1, 0, 0]), 0, 8, 'size'), 65536);
    assert.throws(
      () => parseNumeric(Buffer.from('08'), 0, 2, 'mode'),
      (e) => isBrigError(e, 'ERR_LAYER_INVALID'),
    );
    assert.throws(
      () => parseNumeric(Buffer.from([0xff, 0xff]), 0, 2, 'uid'),
      (e) => isBrigError(e, 'ERR_LAYER_INVALID'),
    );
  });

  test('malformed archives are ERR_LAYER_INVALID; NUL in a name is ERR_LAYER_UNSAFE_PATH', () => {
    const good = archive([{ name: 'a', data: Buffer.from('abc') }]);
    const bad = Buffer.from(good);
    bad[0] = 0x62; // checksum now wrong
    assert.throws(
      () => readAll(bad),
      (e) => isBrigError(e, 'ERR_LAYER_INVALID'),
    );
    assert.throws(
      () => readAll(good.subarray(0, 600)),
      (e) => isBrigError(e, 'ERR_LAYER_INVALID'),
    );
    const hugePax = header('PaxHeaders/x', 'x', 2 << 20);
    assert.throws(
      () => readAll(Buffer.concat([hugePax, Buffer.alloc(1024)])),
      (e) => isBrigError(e, 'ERR_LAYER_INVALID'),
    );
    const nul = archive([{ name: 'ok\0../../x' }]);
    // The ustar field stops at NUL; only PAX can carry one.
    assert.equal(readAll(nul)[0]!.entry.name, 'ok');
    const rec = paxRec('path=ok\0../../x');
    const paxNul = Buffer.concat([
      header('PaxHeaders/x', 'x', rec.length),
      block(rec),
      header('f', '0', 0),
      Buffer.alloc(1024),
    ]);
    assert.throws(
      () => readAll(paxNul),
      (e) => isBrigError(e, 'ERR_LAYER_UNSAFE_PATH'),
    );
    assert.throws(
      () => readAll(Buffer.concat([header('s', 'S', 0), Buffer.alloc(1024)])),
      (e) => isBrigError(e, 'ERR_LAYER_INVALID'),
    );
  });

  test('property: any entries survive write then read', () => {
    const name = fc
      .array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 9 })
      .map((parts) =>
        parts
          .map((p) => Buffer.from(p.map((c) => (c === 0 || c === 0x2f ? 0x61 : c))).toString('latin1'))
          .join('/'),
      );
    const arb = fc.record({
      name,
      type: fc.constantFrom('file', 'symlink', 'hardlink', 'char', 'fifo'),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      uid: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      gid: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      mtime: fc.integer({ min: -(2 ** 33), max: 2 ** 40 }),
      linkname: name,
      devmajor: fc.integer({ min: 0, max: 2 ** 31 }),
      devminor: fc.integer({ min: 0, max: 2 ** 31 }),
      data: fc.uint8Array({ maxLength: 1500 }).map((u) => Buffer.from(u)),
      x: fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }).map((u) => Buffer.from(u))),
    });
    fc.assert(
      fc.property(
        fc.array(arb, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 2000 }),
        (raw, chunk) => {
          const inputs: Input[] = raw.map((r) => ({
            name: r.name,
            type: r.type as TarEntry['type'],
            mode: r.mode,
            uid: r.uid,
            gid: r.gid,
            mtime: r.mtime,
            linkname: r.type === 'symlink' || r.type === 'hardlink' ? r.linkname : '',
            devmajor: r.type === 'char' ? r.devmajor : 0,
            devminor: r.type === 'char' ? r.devminor : 0,
            data: r.type === 'file' ? r.data : undefined,
            xattrs: r.x ? new Map([['user.v', r.x]]) : null,
          }));
          const got = readAll(archive(inputs), chunk);
          assert.equal(got.length, inputs.length);
          got.forEach((g, i) => {
            const want = entry(inputs[i]!);
            assert.deepEqual({ ...g.entry, xattrs: null }, { ...want, xattrs: null });
            assert.deepEqual(g.entry.xattrs, want.xattrs);
            assert.deepEqual(g.data, inputs[i]!.data ?? Buffer.alloc(0));
          });
        },
      ),
      { numRuns: 150 },
    );
  });
});
