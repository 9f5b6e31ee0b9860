/**
 * Layer compression: detection by magic bytes and the (de)compressing transforms.
 * gzip uses node:zlib with 1 MiB output chunks (2.5x the default's throughput, measured);
 * zstd uses the zstd-napi addon (Node 20 has no zstd in zlib), loaded on first use.
 */

import { createRequire } from 'node:module';
import type { Transform } from 'node:stream';
import { constants, createGunzip, createGzip, type ZlibOptions } from 'node:zlib';
import { BrigError } from '../errors/errors.ts';

type Zstd = typeof import('zstd-napi');
let zstdModule: Zstd | undefined;
/** zstd-napi is a native addon (~8 ms to load): loaded on first use only. */
function zstd(): Zstd {
  zstdModule ??= createRequire(import.meta.url)('zstd-napi') as Zstd;
  return zstdModule;
}

export type Compression = 'none' | 'gzip' | 'zstd';

export const MEDIA_TYPES: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/** Guesses the compression from the first bytes of a layer. */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) {
    throw new BrigError(
      'ERR_LAYER_COMPRESSION',
      'the layer is bzip2-compressed; only tar, gzip and zstd are supported',
    );
  }
  if (head.length >= 6 && head.toString('latin1', 0, 6) === '\xfd7zXZ\0') {
    throw new BrigError(
      'ERR_LAYER_COMPRESSION',
      'the layer is xz-compressed; only tar, gzip and zstd are supported',
    );
  }
  return 'none';
}

export function decompressor(c: Exclude<Compression, 'none'>): Transform {
  // A 4 MiB output buffer lets gunzip run ahead while the applier works on the previous chunk
  // (measured: median unpack 560 -> 445 ms on the Debian layer).
  // (Node passes stream options through; @types/node's ZlibOptions does not list them.)
  const gunzipOptions: ZlibOptions & { highWaterMark: number } = {
    chunkSize: 1 << 20,
    highWaterMark: 4 << 20,
  };
  if (c === 'gzip') return createGunzip(gunzipOptions);
  return new (zstd().DecompressStream)();
}

export function compressor(c: Exclude<Compression, 'none'>): Transform {
  // Fixed levels: the output must be a function of the input (reproducible layers).
  if (c === 'gzip') return createGzip({ level: constants.Z_DEFAULT_COMPRESSION, chunkSize: 1 << 20 });
  return new (zstd().CompressStream)({ compressionLevel: 3, checksumFlag: true });
}
