import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { simulatedHost } from '../../../test/support/fake-host.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { parseZfsDiff } from '../../snapshots/zfs/zfs-diff.ts';
import type { HostConfig } from './index.ts';

const setup = (config: HostConfig = {}) =>
  simulatedHost({ pools: ['zroot'], clock: () => Date.UTC(2026, 0, 1, 3, 4, 5), ...config });

describe('zfs(8)', () => {
  test('create, snapshot, clone; list -H and the default table', async () => {
    const { run } = setup();
    assert.equal(
      (await run('zfs', 'create', '-o', 'mountpoint=/var/db/brig/zfs', '-o', 'compression=lz4', 'zroot/brig'))
        .code,
      0,
    );
    assert.equal((await run('zfs', 'create', '-p', 'zroot/brig/layers/l1')).code, 0);
    assert.equal((await run('zfs', 'snapshot', 'zroot/brig/layers/l1@layer')).code, 0);
    assert.equal(
      (
        await run(
          'zfs',
          'clone',
          '-o',
          'canmount=noauto',
          'zroot/brig/layers/l1@layer',
          'zroot/brig/containers/c1',
        )
      ).code,
      1,
    );
    assert.equal(
      (await run('zfs', 'clone', '-p', 'zroot/brig/layers/l1@layer', 'zroot/brig/containers/c1')).code,
      0,
    );
    assert.equal(
      (
        await run(
          'zfs',
          'list',
          '-H',
          '-o',
          'name,origin,mountpoint,mounted',
          '-r',
          '-t',
          'all',
          'zroot/brig',
        )
      ).out,
      [
        'zroot/brig\t-\t/var/db/brig/zfs\tyes',
        'zroot/brig/containers\t-\t/var/db/brig/zfs/containers\tyes',
        'zroot/brig/containers/c1\tzroot/brig/layers/l1@layer\t/var/db/brig/zfs/containers/c1\tyes',
        'zroot/brig/layers\t-\t/var/db/brig/zfs/layers\tyes',
        'zroot/brig/layers/l1\t-\t/var/db/brig/zfs/layers/l1\tyes',
        'zroot/brig/layers/l1@layer\t-\t-\t-',
        '',
      ].join('\n'),
    );
    assert.equal(
      (await run('zfs', 'list', '-d', '1', 'zroot/brig')).out,
      'NAME                   USED  AVAIL  REFER  MOUNTPOINT\n' +
        'zroot/brig             96K   10.0G  96K    /var/db/brig/zfs\n' +
        'zroot/brig/containers  96K   10.0G  96K    /var/db/brig/zfs/containers\n' +
        'zroot/brig/layers      96K   10.0G  96K    /var/db/brig/zfs/layers\n',
    );
    assert.deepEqual(await run('zfs', 'list', '-H', '-o', 'name', 'zroot/nope'), {
      code: 1,
      out: '',
      err: "cannot open 'zroot/nope': dataset does not exist\n",
    });
  });

  test('get: values, sources and inheritance; set validates', async () => {
    const { run } = setup();
    await run('zfs', 'create', '-o', 'mountpoint=/srv/brig', '-o', 'brig:role=root', 'zroot/brig');
    await run('zfs', 'create', 'zroot/brig/a');
    assert.equal(
      (await run('zfs', 'get', '-H', 'mountpoint,compression,brig:role', 'zroot/brig/a')).out,
      'zroot/brig/a\tmountpoint\t/srv/brig/a\tinherited from zroot/brig\nzroot/brig/a\tcompression\toff\tdefault\nzroot/brig/a\tbrig:role\troot\tinherited from zroot/brig\n',
    );
    assert.equal((await run('zfs', 'get', '-H', '-o', 'value', 'mounted', 'zroot/brig/a')).out, 'yes\n');
    assert.equal(
      (await run('zfs', 'get', '-Hp', '-o', 'value', 'used,recordsize,creation', 'zroot/brig/a')).out,
      '98304\n131072\n1767236645\n',
    );
    assert.equal(
      (await run('zfs', 'get', '-H', '-o', 'value', 'creation', 'zroot/brig/a')).out,
      'Thu Jan  1 03:04 2026\n',
    );
    assert.equal(
      (await run('zfs', 'list', '-Hp', '-o', 'name,avail', 'zroot/brig/a')).out,
      'zroot/brig/a\t10737418240\n',
    );
    assert.equal((await run('zfs', 'set', 'readonly=on', 'zroot/brig/a')).code, 0);
    assert.equal(
      (await run('zfs', 'get', '-H', '-o', 'value,source', 'readonly', 'zroot/brig/a')).out,
      'on\tlocal\n',
    );
    for (const [pv, err] of [
      [
        'canmount=maybe',
        "cannot set property for 'zroot/brig/a': 'canmount' must be one of 'on | off | noauto'\n",
      ],
      ['colour=red', "cannot set property for 'zroot/brig/a': invalid property 'colour'\n"],
      ['origin=x', "cannot set property for 'zroot/brig/a': 'origin' is readonly\n"],
      [
        'mountpoint=relative',
        "cannot set property for 'zroot/brig/a': 'mountpoint' must be an absolute path, 'none', or 'legacy'\n",
      ],
    ] as const) {
      assert.deepEqual(await run('zfs', 'set', pv, 'zroot/brig/a'), { code: 1, out: '', err });
    }
    assert.equal((await run('zfs', 'get', 'frobs', 'zroot/brig/a')).code, 2);
  });

  test('changing mountpoint remounts the dataset and its children', async () => {
    const { h, run } = setup();
    await run('zfs', 'create', '-p', 'zroot/b/c');
    await run('zfs', 'set', 'mountpoint=/x', 'zroot/b');
    const zmounts = h
      .state()
      .mounts.filter((m) => m.fstype === 'zfs')
      .map((m) => `${m.source} ${m.target}`);
    assert.deepEqual(zmounts.sort(), [
      'zroot /zroot',
      'zroot/ROOT/default /',
      'zroot/b /x',
      'zroot/b/c /x/c',
    ]);
    await run('zfs', 'set', 'mountpoint=none', 'zroot/b');
    assert.equal((await run('zfs', 'get', '-H', '-o', 'value', 'mounted', 'zroot/b/c')).out, 'no\n');
  });

  test('create refusals', async () => {
    const { h, run } = setup();
    const before = h.state();
    for (const [args, err] of [
      [['create', 'zroot/a/b'], "cannot create 'zroot/a/b': parent does not exist\n"],
      [['create', 'tank/a'], "cannot create 'tank/a': no such pool 'tank'\n"],
      [['create', 'zroot/bad name'], "cannot create 'zroot/bad name': invalid character in name\n"],
      [
        ['create', '-o', 'compression=fast', 'zroot/a'],
        "cannot set property for 'zroot/a': 'compression' must be one of 'on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | zstd-fast-[1-10,20,30,40,50,60,70,80,90,100,500,1000]'\n",
      ],
      [
        ['snapshot', 'zroot/a@s'],
        "cannot open 'zroot/a': dataset does not exist\nusage:\n\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...\n",
      ],
      [['snapshot', 'zroot'], "cannot create snapshot 'zroot': missing '@' delimiter in snapshot name\n"],
      [['clone', 'zroot@nope', 'zroot/c'], "cannot open 'zroot@nope': dataset does not exist\n"],
    ] as const) {
      assert.deepEqual(await run('zfs', ...args), { code: 1, out: '', err }, args.join(' '));
    }
    assert.deepEqual(await run('zfs', 'create', 'zroot'), {
      code: 1,
      out: '',
      err: "cannot create 'zroot': dataset already exists\n",
    });
    assert.equal((await run('zfs', 'frobnicate')).code, 2);
    assert.deepEqual(h.state(), before);
  });

  test('destroy: children need -r, dependent clones need -R, pools are refused, busy mounts fail', async () => {
    const { h, run } = setup();
    await run('zfs', 'create', '-p', 'zroot/l/a');
    await run('zfs', 'snapshot', 'zroot/l/a@s');
    await run('zfs', 'clone', 'zroot/l/a@s', 'zroot/c1');
    assert.deepEqual(await run('zfs', 'destroy', 'zroot/l/a'), {
      code: 1,
      out: '',
      err: "cannot destroy 'zroot/l/a': filesystem has children\nuse '-r' to destroy the following datasets:\nzroot/l/a@s\n",
    });
    assert.deepEqual(await run('zfs', 'destroy', 'zroot/l/a@s'), {
      code: 1,
      out: '',
      err: "cannot destroy 'zroot/l/a@s': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\nzroot/c1\n",
    });
    assert.deepEqual(await run('zfs', 'destroy', '-r', 'zroot/l/a'), {
      code: 1,
      out: '',
      err: "cannot destroy 'zroot/l/a': filesystem has dependent clones\nuse '-R' to destroy the following datasets:\nzroot/c1\n",
    });
    assert.match(
      (await run('zfs', 'destroy', 'zroot')).err,
      /^cannot destroy 'zroot': operation does not apply to pools\n/,
    );
    await run('mount', '-t', 'tmpfs', 'tmpfs', '/zroot/c1');
    assert.deepEqual(await run('zfs', 'destroy', 'zroot/c1'), {
      code: 1,
      out: '',
      err: "cannot unmount '/zroot/c1': pool or dataset is busy\n",
    });
    await run('umount', '/zroot/c1');
    assert.equal(
      (await run('zfs', 'destroy', '-nv', '-R', 'zroot/l/a@s')).out,
      'would destroy zroot/l/a@s\nwould destroy zroot/c1\n',
    );
    assert.equal((await run('zfs', 'destroy', '-R', 'zroot/l/a@s')).code, 0);
    assert.deepEqual(Object.keys(h.state().datasets).sort(), ['zroot', 'zroot/l', 'zroot/l/a']);
    assert.equal((await run('zfs', 'destroy', '-r', 'zroot/l')).code, 0);
    assert.deepEqual(Object.keys(h.state().datasets), ['zroot']);
    assert.deepEqual(
      h.state().mounts.map((m) => m.target),
      ['/', '/dev', '/zroot'],
    );
  });

  test('promote moves the origin snapshots to the clone; rename follows names and origins', async () => {
    const { run } = setup();
    await run('zfs', 'create', 'zroot/base');
    await run('zfs', 'snapshot', 'zroot/base@one');
    await run('zfs', 'snapshot', 'zroot/base@two');
    await run('zfs', 'clone', 'zroot/base@one', 'zroot/work');
    assert.equal((await run('zfs', 'promote', 'zroot/work')).code, 0);
    assert.equal(
      (await run('zfs', 'list', '-H', '-o', 'name,origin', '-t', 'all', '-r', 'zroot')).out,
      'zroot\t-\nzroot/base\tzroot/work@one\nzroot/base@two\t-\nzroot/work\t-\nzroot/work@one\t-\n',
    );
    assert.equal(
      (await run('zfs', 'promote', 'zroot/work')).err,
      "cannot promote 'zroot/work': not a cloned filesystem\n",
    );
    assert.equal((await run('zfs', 'rename', 'zroot/work@one', 'first')).code, 0);
    assert.equal((await run('zfs', 'rename', 'zroot/work', 'zroot/w2')).code, 0);
    assert.equal(
      (await run('zfs', 'get', '-H', '-o', 'value', 'origin', 'zroot/base')).out,
      'zroot/w2@first\n',
    );
    assert.equal((await run('zfs', 'get', '-H', '-o', 'value', 'mountpoint', 'zroot/w2')).out, '/zroot/w2\n');
    assert.equal(
      (await run('zfs', 'rename', 'zroot/w2', 'zroot/w2/inner')).err,
      "cannot rename to 'zroot/w2/inner': New dataset name cannot be a descendant of current dataset name\n",
    );
  });

  test('diff from the content model, read back by parseZfsDiff', async (t) => {
    const root = tempDir(t);
    const content = join(root, 'snapshots');
    const { run } = setup({ writable: [root], contentDir: content });
    const mp = join(root, 'zfs');
    assert.equal((await run('zfs', 'create', '-o', `mountpoint=${mp}`, 'zroot/brig')).code, 0);
    assert.equal((await run('zfs', 'create', 'zroot/brig/l1')).code, 0);
    const l1 = join(mp, 'l1');
    assert.ok(existsSync(l1), 'the mountpoint directory is created for real under a writable prefix');
    mkdirSync(join(l1, 'etc'));
    mkdirSync(join(l1, 'var/cache'), { recursive: true });
    writeFileSync(join(l1, 'etc/passwd'), 'root:*:0:0\n');
    writeFileSync(join(l1, 'etc/motd'), 'hi\n');
    writeFileSync(join(l1, 'var/cache/x'), 'x');
    assert.equal((await run('zfs', 'snapshot', 'zroot/brig/l1@layer')).code, 0);
    assert.equal((await run('zfs', 'clone', 'zroot/brig/l1@layer', 'zroot/brig/c1')).code, 0);
    const c1 = join(mp, 'c1');
    assert.equal(
      readFileSync(join(c1, 'etc/passwd'), 'utf8'),
      'root:*:0:0\n',
      'a clone starts as a copy of its origin',
    );
    writeFileSync(join(c1, 'etc/passwd'), 'root:*:0:0\nwww:*:80:80\n');
    rmSync(join(c1, 'etc/motd'));
    rmSync(join(c1, 'var/cache'), { recursive: true });
    writeFileSync(join(c1, 'my file é'), 'new');
    symlinkSync('etc/passwd', join(c1, 'link'));
    renameSync(join(c1, 'var'), join(c1, 'var2'));
    const r = await run('zfs', 'diff', '-FH', 'zroot/brig/l1@layer', 'zroot/brig/c1');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\+\tF\t.*\/c1\/my\\0040file\\0040\\0303\\0251$/m);
    const changes = parseZfsDiff(r.out, { mountpoint: c1 }).changes;
    const sorted = changes.map((c) => `${c.kind} ${c.path}`).sort();
    assert.deepEqual(sorted, [
      'add link',
      'add my file é',
      'add var2',
      'delete etc/motd',
      'delete var',
      'delete var/cache',
      'delete var/cache/x',
      'modify etc',
      'modify etc/passwd',
    ]);
    const timed = await run('zfs', 'diff', '-FHt', 'zroot/brig/l1@layer', 'zroot/brig/c1');
    assert.match(timed.out, /^ *\d+\.\d{9}\t[-+MR]\t/);
    assert.deepEqual(parseZfsDiff(timed.out, { mountpoint: c1, timestamps: true }).changes, changes);
    assert.equal(
      (await run('zfs', 'diff', 'zroot/brig/l1')).err,
      'Badly formed snapshot name zroot/brig/l1\n',
    );
    await run('zfs', 'destroy', '-R', 'zroot/brig/l1@layer');
    assert.deepEqual(readdirSync(content), [], 'destroyed snapshots drop their kept content');
  });

  test('diff without a content directory says it is not simulated', async () => {
    const { run } = setup();
    await run('zfs', 'create', 'zroot/a');
    await run('zfs', 'snapshot', 'zroot/a@s');
    const r = await run('zfs', 'diff', '-FH', 'zroot/a@s', 'zroot/a');
    assert.equal(r.code, 1);
    assert.match(r.err, /simulated host: no content is kept/);
  });
});
