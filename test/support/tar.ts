/**
 * Tar header blocks written by hand, for the tests of what brig's tar writer never writes
 * (GNU long names, PAX and global headers, sparse files, base-256 numbers, hostile sizes).
 */

/**
 * A 512-byte ustar header: `name`, mode 0644, owner 0, `size`, `mtime` (seconds), type `flag`
 * and `magic` (POSIX `ustar\0` `00` unless given, e.g. GNU's `ustar  \0`); `extra` may change
 * any field before the checksum is computed.
 */
export function rawHeader(
  name: string,
  flag: string,
  size: number,
  opts: { mtime?: number; magic?: string; extra?: (b: Buffer) => void } = {},
): Buffer {
  const octal = (n: number) => `${n.toString(8).padStart(11, '0')}\0`;
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'latin1');
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(octal(size), 124);
  b.write(octal(opts.mtime ?? 0), 136);
  b.write(flag, 156);
  b.write(opts.magic ?? 'ustar\x0000', 257, 'latin1');
  opts.extra?.(b);
  b.fill(0x20, 148, 156);
  let s = 0;
  for (const c of b) s += c;
  b.write(`${s.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}
