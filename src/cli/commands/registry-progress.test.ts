/**
 * The pull/push progress display: a pull that unpacks shows each layer going on to "Extracting"
 * and "Pull complete", as plain lines when stderr is not a terminal and in the layer's bar on one.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { ProgressEvent } from '../../client/registry.ts';
import { progressDisplay } from './registry-progress.ts';

function called(cb?: () => void): true {
  cb?.();
  return true;
}

function sink(tty: boolean): { out: NodeJS.WriteStream; text(): string } {
  let text = '';
  const w = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  }) as unknown as NodeJS.WriteStream & Record<string, unknown>;
  if (tty) {
    Object.assign(w, {
      isTTY: true,
      columns: 120,
      rows: 40,
      cursorTo: (_x: number, _y?: number, cb?: () => void) => called(cb),
      moveCursor: (_x: number, _y: number, cb?: () => void) => called(cb),
      clearLine: (_d: number, cb?: () => void) => called(cb),
      clearScreenDown: (cb?: () => void) => called(cb),
    });
  }
  return { out: w, text: () => text };
}

const layer = `sha256:${'ab'.repeat(32)}`;
const events: ProgressEvent[] = [
  { id: layer, kind: 'layer', status: 'waiting', current: 0, total: 100 },
  { id: layer, kind: 'layer', status: 'downloading', current: 50, total: 100 },
  { id: layer, kind: 'layer', status: 'done', current: 100, total: 100 },
  { id: layer, kind: 'layer', status: 'extracting', current: 100, total: 100 },
  { id: layer, kind: 'layer', status: 'unpacked', current: 100, total: 100 },
];

test('plain lines: one per state, ending with Extracting and Pull complete', () => {
  const s = sink(false);
  const d = progressDisplay('Downloading', s.out);
  for (const e of events) d.update(e);
  d.stop();
  assert.deepEqual(
    s
      .text()
      .trim()
      .split('\n')
      .map((l) => l.replace(/ \(.*\)$/, '')),
    [
      'abababababab: Waiting',
      'abababababab: Downloading',
      'abababababab: Done',
      'abababababab: Extracting',
      'abababababab: Pull complete',
    ],
  );
});

test('terminal: the layer bar shows Extracting, then Pull complete', () => {
  const s = sink(true);
  const d = progressDisplay('Downloading', s.out);
  for (const e of events.slice(0, 4)) d.update(e);
  d.stop();
  assert.match(s.text(), /abababababab Extracting/);
  const s2 = sink(true);
  const d2 = progressDisplay('Downloading', s2.out);
  for (const e of events) d2.update(e);
  d2.stop();
  assert.match(s2.text(), /abababababab Pull complete/);
});
