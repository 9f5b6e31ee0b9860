import { join } from 'node:path';
import { snapshotterSuite } from '../conformance.ts';
import { NativeSnapshotter } from './native-snapshotter.ts';

snapshotterSuite('native', ({ db, dir }) => new NativeSnapshotter(db, join(dir, 'snapshots', 'native')));
