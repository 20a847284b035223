/** Events push and pull emit as they work; the CLI renders them, build tools may log them. */
export type ProgressEvent =
  | {
      readonly type: 'plan';
      readonly operation: 'push' | 'pull';
      readonly image: string;
      readonly layers: number;
      readonly missing: number;
    }
  /** Push asked the engine for its save; nothing streams until the engine has exported the image. */
  | { readonly type: 'export'; readonly image: string }
  /** `size` and `bytes` of layer-start and layer-progress count decoded (layer tar) bytes. */
  | { readonly type: 'layer-start'; readonly diffId: string; readonly size?: number }
  | { readonly type: 'layer-progress'; readonly diffId: string; readonly bytes: number; readonly size?: number }
  | {
      readonly type: 'layer-done';
      readonly diffId: string;
      /** Stored (encoded) bytes moved: uploaded or downloaded; 0 when none moved. */
      readonly bytes: number;
      /** Decoded size of the layer, where known. */
      readonly size?: number;
      readonly result: 'uploaded' | 'downloaded' | 'present' | 'cached';
    }
  | { readonly type: 'publish'; readonly key: string; readonly result: 'written' | 'exists' | 'unchanged' }
  | { readonly type: 'load'; readonly engine: string; readonly layers: number; readonly state: 'start' | 'done' | 'skipped' }
  /** A stored blob found broken and removed so it is written (push) or fetched (pull) again. */
  | { readonly type: 'repair'; readonly key: string; readonly reason: string }
  /** Waiting for something outside this process (a gc running on the remote). */
  | { readonly type: 'wait'; readonly reason: string }
  /**
   * A host whose dogestry server pulls for itself (`--pull-hosts dogestry://…`): started, stored
   * bytes it downloaded so far, done (with the layers it loaded) or failed.
   */
  | {
      readonly type: 'host';
      readonly host: string;
      readonly state: 'start' | 'progress' | 'done' | 'failed';
      readonly bytes?: number;
      readonly layers?: number;
      readonly message?: string;
    };

export type ProgressListener = (event: ProgressEvent) => void;

/** Counts bytes as they pass (`count(n)`), emitting layer-progress every `everyBytes`. */
export function progressCounter(
  emit: ProgressListener | undefined,
  diffId: string,
  size: number | undefined,
  everyBytes = 8 * 1024 * 1024,
): (bytes: number) => void {
  let total = 0;
  let next = everyBytes;
  return (bytes) => {
    total += bytes;
    if (!emit || total < next) return;
    next = total + everyBytes;
    emit(size === undefined ? { type: 'layer-progress', diffId, bytes: total } : { type: 'layer-progress', diffId, bytes: total, size });
  };
}
