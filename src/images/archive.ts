/**
 * Reading tar archives that carry images (OCI archives, docker-archives) and root filesystem
 * tarballs, with the layers module's tar codec. Nothing is ever extracted to disk: entries are
 * streamed to a sink the caller chooses (the content store, a small buffer, or nowhere), so an
 * archive's names and links cannot make brig write anywhere.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { addAbortSignal, pipeline, type Readable } from 'node:stream';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { type Compression, decompressor, detectCompression } from '../layers/compression.ts';
import { DATA, END, ENTRY, ENTRY_END, NEED_MORE, TarReader } from '../layers/tar/reader.ts';
import type { TarType } from '../layers/tar/tar.ts';

export interface ArchiveEntry {
  /** Normalised path: UTF-8, no leading "./" or "/", no empty or "." components. */
  name: string;
  type: TarType;
  size: number;
  /** Link target for symlinks and hardlinks (normalised the same way for hardlinks). */
  linkname: string;
  /** False when the name climbs with ".." (such entries are reported but never meaningful). */
  clean: boolean;
}

export interface EntrySink {
  data(chunk: Buffer): Promise<void> | void;
  end(): Promise<void> | void;
  /** Called instead of `end` when the walk fails or is cancelled mid-entry (drop what was written). */
  abort?(): Promise<void> | void;
}

export function normalizeEntryName(raw: string): { name: string; clean: boolean } {
  const s = Buffer.from(raw, 'latin1').toString('utf8');
  const parts = s.split('/').filter((p) => p !== '' && p !== '.');
  return { name: parts.join('/'), clean: !parts.includes('..') };
}

export async function sniffCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** The archive's bytes after decompression (detected from the magic bytes). */
export async function tarStream(path: string): Promise<{ stream: Readable; compression: Compression }> {
  const compression = await sniffCompression(path);
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  if (compression === 'none') return { stream: file, compression };
  const d = decompressor(compression);
  pipeline(file, d, () => {});
  return { stream: d, compression };
}

/**
 * Walks every entry of the tar at `path`; `onEntry` returns a sink for the entry's content or
 * undefined to skip it. Malformed archives fail with ERR_IMAGE_SOURCE (the tar error as cause).
 * `onChunk` sees every decompressed byte (to compute a diff_id). An aborted `signal` stops the
 * walk: it rejects with the signal's reason.
 */
export async function walkArchive(
  path: string,
  onEntry: (e: ArchiveEntry) => EntrySink | undefined | Promise<EntrySink | undefined>,
  onChunk?: (chunk: Buffer) => void,
  signal?: AbortSignal,
): Promise<{ entries: number; compression: Compression }> {
  signal?.throwIfAborted();
  const { stream: raw, compression } = await tarStream(path);
  const stream = signal ? addAbortSignal(signal, raw) : raw;
  const reader = new TarReader();
  let sink: EntrySink | undefined;
  let sawEnd = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      onChunk?.(chunk);
      if (sawEnd) continue;
      reader.feed(chunk);
      for (;;) {
        const ev = reader.next();
        if (ev === NEED_MORE) break;
        if (ev === ENTRY) {
          const e = reader.entry!;
          const { name, clean } = normalizeEntryName(e.name);
          const linkname =
            e.type === 'hardlink'
              ? normalizeEntryName(e.linkname).name
              : Buffer.from(e.linkname, 'latin1').toString('utf8');
          sink = await onEntry({ name, type: e.type, size: e.size, linkname, clean });
        } else if (ev === DATA) {
          if (sink) await sink.data(reader.data);
        } else if (ev === ENTRY_END) {
          const s = sink;
          sink = undefined;
          if (s) await s.end();
        } else if (ev === END) {
          sawEnd = true;
          break;
        }
      }
    }
    reader.finish();
  } catch (e) {
    stream.destroy();
    await Promise.resolve(sink?.abort?.()).catch(() => {});
    if (signal?.aborted) throw signal.reason;
    if (isBrigError(e) && e.code !== 'ERR_LAYER_INVALID') throw e;
    throw new BrigError(
      'ERR_IMAGE_SOURCE',
      `${path} is not a readable tar archive: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return { entries: reader.count, compression };
}

/** A sink that keeps up to `max` bytes in memory (for index.json, manifest.json…). */
export function bufferSink(max: number, what: string, done: (b: Buffer) => void): EntrySink {
  const parts: Buffer[] = [];
  let n = 0;
  return {
    data(chunk) {
      n += chunk.length;
      if (n > max) throw new BrigError('ERR_IMAGE_INVALID', `${what} is larger than ${max} bytes`);
      parts.push(Buffer.from(chunk));
    },
    end() {
      done(Buffer.concat(parts));
    },
  };
}
