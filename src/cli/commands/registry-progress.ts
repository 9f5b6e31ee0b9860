/**
 * Progress display shared by pull and push: on a terminal one cli-progress bar per blob
 * (redrawn in place), otherwise one plain line per change of a blob's state. A pull that unpacks
 * shows each layer going on to "Extracting" and "Pull complete". Not a command:
 * not listed in ./index.ts.
 */
import cliProgress from 'cli-progress';
import type { ProgressEvent } from '../../client/registry.ts';
import { formatSize } from '../output.ts';

export interface ProgressDisplay {
  update(e: ProgressEvent): void;
  stop(): void;
}

const LABEL: Record<ProgressEvent['status'], string> = {
  resolving: 'Resolving',
  waiting: 'Waiting',
  exists: 'Already exists',
  downloading: 'Downloading',
  uploading: 'Uploading',
  mounted: 'Mounted',
  retrying: 'Retrying',
  verifying: 'Verifying',
  done: 'Done',
  extracting: 'Extracting',
  unpacked: 'Pull complete',
};

/** States after which a blob's bar is full. */
const FULL = new Set<ProgressEvent['status']>(['exists', 'done', 'mounted', 'extracting', 'unpacked']);

function short(id: string): string {
  return id.startsWith('sha256:') ? id.slice(7, 19) : id;
}

/** Runs `op` with a display labelled `verb` (none when `quiet`), stopped however `op` ends. */
export async function withProgress<T>(
  verb: string,
  quiet: boolean | undefined,
  op: (onProgress: ((e: ProgressEvent) => void) | undefined) => Promise<T>,
): Promise<T> {
  const display = quiet ? undefined : progressDisplay(verb);
  try {
    return await op(display ? (e) => display.update(e) : undefined);
  } finally {
    display?.stop();
  }
}

export function progressDisplay(verb: string, out: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  if (!out.isTTY) {
    const last = new Map<string, string>();
    return {
      update(e) {
        if (e.kind === 'manifest' && e.status !== 'resolving') return;
        if (last.get(e.id) === e.status) return;
        last.set(e.id, e.status);
        const size = e.total !== undefined && e.status !== 'resolving' ? ` (${formatSize(e.total)})` : '';
        out.write(`${short(e.id)}: ${LABEL[e.status]}${size}${e.message ? `: ${e.message}` : ''}\n`);
      },
      stop() {},
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream: out,
      hideCursor: true,
      clearOnComplete: false,
      format: '{id} {status} |{bar}| {done} / {size}',
      barsize: 30,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    update(e) {
      if (e.kind === 'manifest') return;
      const total = e.total ?? 0;
      const payload = {
        id: short(e.id),
        status: (e.status === 'downloading' || e.status === 'uploading' ? verb : LABEL[e.status]).padEnd(14),
        done: formatSize(e.current ?? 0),
        size: formatSize(total),
      };
      let bar = bars.get(e.id);
      if (!bar) {
        bar = multi.create(Math.max(1, total), e.current ?? 0, payload);
        bars.set(e.id, bar);
      }
      const value = FULL.has(e.status) ? total : (e.current ?? 0);
      bar.update(value, payload);
    },
    stop() {
      multi.stop();
    },
  };
}
