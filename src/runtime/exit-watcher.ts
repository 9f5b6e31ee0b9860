/**
 * One watcher for every container's exit: conmon writes `<exit-dir>/<container id>` (atomically:
 * temp file + rename) holding the exit status. `fs.watch` on the directory wakes brigd within
 * milliseconds, with no per-container polling. `sweep()` handles files written while brigd was
 * not running (called at start, after the watcher is set, so nothing falls between the two).
 *
 * The handler is async and the file is removed only after it resolved: if brigd dies in
 * between, the file is still there for the next sweep. Each id is handled once at a time.
 */
import { type FSWatcher, readFileSync, rmSync, watch } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

const ID = /^[0-9a-f]{64}$/;

export type ExitHandler = (id: string, status: number) => Promise<void>;

export class ExitWatcher {
  private watcher: FSWatcher | undefined;
  private inFlight = new Set<string>();
  private again = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly onExit: ExitHandler,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.watcher = watch(this.dir, (_event, name) => {
      if (name && ID.test(name)) void this.handle(name);
    });
    this.watcher.on('error', this.onError);
    await this.sweep();
  }

  async sweep(): Promise<void> {
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (ID.test(name)) await this.handle(name);
    }
  }

  /**
   * Reads an exit file (undefined when absent). Exit files are a few bytes conmon wrote in
   * brigd's own directory: read and removed synchronously, without a thread-pool round trip on
   * the way from an exit to its status.
   */
  async read(id: string): Promise<number | undefined> {
    try {
      const text = readFileSync(join(this.dir, id), 'utf8').trim();
      const n = Number.parseInt(text, 10);
      return Number.isFinite(n) ? n : -1;
    } catch {
      return undefined;
    }
  }

  async discard(id: string): Promise<void> {
    rmSync(join(this.dir, id), { force: true });
  }

  private async handle(id: string): Promise<void> {
    if (this.inFlight.has(id)) {
      this.again.add(id);
      return;
    }
    this.inFlight.add(id);
    try {
      const status = await this.read(id);
      if (status === undefined) return;
      await this.onExit(id, status);
      await this.discard(id);
    } catch (e) {
      this.onError(e);
    } finally {
      this.inFlight.delete(id);
      if (this.again.delete(id)) void this.handle(id);
    }
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}
