/** Events push and pull emit as they work; the CLI renders them, build tools may log them. */
export type ProgressEvent =
  | {
      readonly type: 'plan';
      readonly operation: 'push' | 'pull';
      readonly image: string;
      readonly layers: number;
      readonly missing: number;
    }
  | { readonly type: 'layer-start'; readonly diffId: string; readonly size?: number }
  | { readonly type: 'layer-progress'; readonly diffId: string; readonly bytes: number; readonly size?: number }
  | {
      readonly type: 'layer-done';
      readonly diffId: string;
      readonly bytes: number;
      readonly result: 'uploaded' | 'downloaded' | 'present' | 'cached';
    }
  | { readonly type: 'publish'; readonly key: string; readonly result: 'written' | 'exists' | 'unchanged' }
  | { readonly type: 'load'; readonly engine: string; readonly layers: number; readonly state: 'start' | 'done' | 'skipped' };

export type ProgressListener = (event: ProgressEvent) => void;

/** A pass-through stage that reports bytes every `everyBytes`. */
export function progressStage(
  emit: ProgressListener | undefined,
  diffId: string,
  size: number | undefined,
  everyBytes = 8 * 1024 * 1024,
): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return async function* (source) {
    let bytes = 0;
    let next = everyBytes;
    for await (const chunk of source) {
      bytes += chunk.length;
      if (emit && bytes >= next) {
        next = bytes + everyBytes;
        emit(size === undefined ? { type: 'layer-progress', diffId, bytes } : { type: 'layer-progress', diffId, bytes, size });
      }
      yield chunk;
    }
  };
}
