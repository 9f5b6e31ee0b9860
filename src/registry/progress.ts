/**
 * Progress of a pull or push, one event per change of a blob's state (and throttled byte counts
 * while it moves). The API streams these as NDJSON; the CLI draws one bar per layer.
 */
export type BlobKind = 'index' | 'manifest' | 'config' | 'layer';

export type ProgressStatus =
  | 'resolving' // looking the reference up
  | 'waiting' // queued behind the concurrency limit
  | 'exists' // already in the local store (pull) or in the repository (push)
  | 'downloading'
  | 'uploading'
  | 'mounted' // cross-repository mount, nothing uploaded
  | 'retrying' // the connection broke or the registry failed; resuming
  | 'verifying'
  | 'done'
  | 'extracting' // pull: the layer is being unpacked into the snapshotter
  | 'unpacked'; // pull: the layer's snapshot is committed (made or found): "Pull complete"

export interface ProgressEvent {
  /** Blob digest, or the reference while resolving. */
  id: string;
  kind: BlobKind;
  status: ProgressStatus;
  /** Bytes done so far (downloading/uploading). */
  current?: number;
  total?: number;
  /** Free text for `retrying` (the reason, never credentials). */
  message?: string;
}

export type ProgressFn = (e: ProgressEvent) => void;

/** Wraps a progress callback so byte counts are reported at most every `ms` per blob. */
export function throttled(fn: ProgressFn | undefined, ms = 150): ProgressFn {
  if (!fn) return () => {};
  const last = new Map<string, number>();
  return (e) => {
    if (e.status === 'downloading' || e.status === 'uploading') {
      const now = Date.now();
      const t = last.get(e.id) ?? 0;
      if (now - t < ms && e.current !== 0 && e.current !== e.total) return;
      last.set(e.id, now);
    }
    fn(e);
  };
}
