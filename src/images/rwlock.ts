/**
 * An in-process readers-writer lock: imports and exports share it, GC takes it alone. The content
 * store's lease protocol already keeps leased blobs from GC; this closes the remaining window in
 * which an import finds a blob present, and a GC that had read the leases just before deletes it.
 */
export class RWLock {
  private readers = 0;
  private writer: Promise<void> | null = null;
  private drained: (() => void) | null = null;

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      if (this.readers === 0 && this.drained) this.drained();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    let release!: () => void;
    this.writer = new Promise<void>((r) => {
      release = r;
    });
    try {
      if (this.readers > 0) {
        await new Promise<void>((r) => {
          this.drained = r;
        });
        this.drained = null;
      }
      return await fn();
    } finally {
      this.writer = null;
      release();
    }
  }
}
