import { FormatError } from '../errors.js';
import { pump } from '../streams.js';

/** One entry of a tar archive, as its header describes it. */
export interface TarEntry {
  /** The path, with GNU long names and pax `path` applied. */
  readonly name: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  /** Bytes of content that follow the header (0 for links and directories). */
  readonly size: number;
}

/**
 * Where one entry's bytes go. The reader calls `write` with consecutive slices of the
 * source's own buffers (no copies; a slice stays valid after the call), then `end` once, or
 * `abort` once if the archive fails part way.
 */
export interface EntrySink<T = void> {
  /** Take the next bytes. A returned promise asks the reader to wait for it before writing more. */
  write(chunk: Buffer): Promise<void> | undefined;
  /** Every byte was written. The reader waits for it before the next entry. */
  end(): Promise<T>;
  /** The archive failed while this entry was open: release what the sink holds. */
  abort(error: Error): void;
}

const BLOCK = 512;
const TYPES: Record<string, TarEntry['type']> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '5': 'directory',
  '2': 'symlink',
  '1': 'hardlink',
};
/** GNU long names and pax headers are metadata entries; refuse absurd ones. */
const MAX_METADATA = 1024 * 1024;

/**
 * Read a tar archive (ustar, GNU and pax, as Go's archive/tar, tar-stream and GNU tar write
 * them) from `source` in one pass and hand each entry's content to the sink `onEntry` returns
 * for it, or skip it when `onEntry` returns `undefined`. Content is passed on as slices of the
 * source's buffers, so a layer of any size flows through with no copy and bounded memory.
 */
export async function readTar(source: AsyncIterable<Buffer>, onEntry: (entry: TarEntry) => EntrySink<unknown> | undefined): Promise<void> {
  const header = Buffer.alloc(BLOCK);
  let headerFill = 0;
  /** Content bytes of the open entry still to come, then the padding to the block boundary. */
  let remaining = 0;
  let padding = 0;
  let sink: EntrySink<unknown> | undefined;
  /** Content of a GNU long-name or pax header entry, which describes the entry after it. */
  let metadata: { kind: 'longname' | 'pax'; parts: Buffer[] } | undefined;
  let longName: string | undefined;
  let pax: Map<string, string> | undefined;
  let ended = false;

  const finishEntry = (): Promise<void> | undefined => {
    if (metadata) {
      const content = Buffer.concat(metadata.parts);
      if (metadata.kind === 'longname') longName = content.toString('utf8').replace(/\0.*$/s, '');
      else pax = parsePax(content);
      metadata = undefined;
    } else if (sink) {
      const open = sink;
      sink = undefined;
      return open.end().then(() => {});
    }
    return undefined;
  };

  const startEntry = (): Promise<void> | undefined => {
    if (header.every((byte) => byte === 0)) {
      ended = true;
      return undefined;
    }
    if (!checksumMatches(header)) throw new FormatError('not a tar archive (header checksum mismatch)');
    const flag = String.fromCharCode(header[156] as number);
    const size = Number(pax?.get('size') ?? parseSize(header.subarray(124, 136)));
    if (!Number.isSafeInteger(size) || size < 0) throw new FormatError('tar entry with an invalid size');
    remaining = size;
    padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (flag === 'L' || flag === 'x') {
      if (size > MAX_METADATA) throw new FormatError('tar metadata entry too large');
      metadata = { kind: flag === 'L' ? 'longname' : 'pax', parts: [] };
    } else if (flag === 'g' || flag === 'K') {
      sink = undefined; // global pax header, GNU long link name: not needed
    } else {
      const name = pax?.get('path') ?? longName ?? headerName(header);
      longName = undefined;
      pax = undefined;
      sink = onEntry({ name, type: TYPES[flag] ?? 'other', size }) ?? undefined;
    }
    return remaining === 0 ? finishEntry() : undefined;
  };

  /**
   * Take one chunk, as far as the sinks allow synchronously; if a sink asks to wait, answer a
   * promise that carries on with the rest of the chunk after it.
   */
  const feed = (chunk: Buffer, from: number): Promise<void> | undefined => {
    let at = from;
    while (at < chunk.length && !ended) {
      let wait: Promise<void> | undefined;
      if (remaining > 0) {
        const n = Math.min(remaining, chunk.length - at);
        const part = n === chunk.length ? chunk : chunk.subarray(at, at + n);
        at += n;
        remaining -= n;
        if (metadata) metadata.parts.push(Buffer.from(part));
        else if (sink) wait = sink.write(part);
        if (remaining === 0) wait = wait ? wait.then(finishEntry) : finishEntry();
      } else if (padding > 0) {
        const n = Math.min(padding, chunk.length - at);
        at += n;
        padding -= n;
      } else {
        const n = Math.min(BLOCK - headerFill, chunk.length - at);
        chunk.copy(header, headerFill, at, at + n);
        at += n;
        headerFill += n;
        if (headerFill === BLOCK) {
          headerFill = 0;
          wait = startEntry();
        }
      }
      if (wait) {
        const resumeAt = at;
        return wait.then(() => feed(chunk, resumeAt));
      }
    }
    // After the end-of-archive block the rest is zero padding: it is read so the source ends cleanly.
    return undefined;
  };

  const finish = (): void => {
    if (!ended && (remaining > 0 || headerFill > 0 || metadata)) throw new FormatError('tar archive ends in the middle of an entry');
  };

  try {
    await pump(source, (chunk) => feed(chunk, 0));
    finish();
  } catch (error) {
    sink?.abort(error as Error);
    throw error;
  }
}

function headerName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  // ustar (magic "ustar\0") keeps a path prefix; GNU ("ustar  ") uses those bytes for times.
  const ustar = header.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = ustar ? cString(header.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}

/** Octal, or base-256 (high bit set) for sizes past 8 GiB. */
function parseSize(field: Buffer): number {
  if (((field[0] as number) & 0x80) !== 0) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] as number);
    return value;
  }
  const text = cString(field).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function checksumMatches(header: Buffer): boolean {
  const stored = Number.parseInt(cString(header.subarray(148, 156)).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  return sum === stored;
}

/** Pax records: "<length> <key>=<value>\n", repeated. */
function parsePax(content: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < content.length) {
    const space = content.indexOf(0x20, at);
    const length = Number.parseInt(content.subarray(at, space).toString('latin1'), 10);
    if (space < 0 || !Number.isSafeInteger(length) || length <= 0 || at + length > content.length) {
      throw new FormatError('malformed pax header in tar archive');
    }
    const record = content.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}
