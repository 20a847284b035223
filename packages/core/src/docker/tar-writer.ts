/**
 * The few tar headers a load tar needs (ustar, regular files and directories, names under 100
 * bytes), written directly: the bytes between them are the layers themselves, never copied.
 */
const BLOCK = 512;
/** Largest size the 11 octal digits of a ustar size field hold; larger ones go base-256 (GNU, Go). */
const MAX_OCTAL = 0o77777777777;

export function tarHeader(name: string, size: number, type: 'file' | 'directory' = 'file'): Buffer {
  const header = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new RangeError(`tar entry name longer than 100 bytes: ${name}`);
  header.write(name, 0, 'utf8');
  octal(header, 100, 8, type === 'directory' ? 0o755 : 0o644);
  octal(header, 108, 8, 0); // uid
  octal(header, 116, 8, 0); // gid
  if (size <= MAX_OCTAL) octal(header, 124, 12, size);
  else {
    header[124] = 0x80;
    header.writeBigUInt64BE(BigInt(size), 128);
  }
  octal(header, 136, 12, 0); // mtime
  header[156] = type === 'directory' ? 0x35 : 0x30;
  header.write('ustar\u000000', 257, 'latin1');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return header;
}

/** Zero bytes that bring an entry of `size` bytes to a whole block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

function octal(header: Buffer, offset: number, length: number, value: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, 'latin1');
}
