/** The progress renderer, fed events with a fake clock, as a TTY and as a log. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ProgressRenderer } from '../src/progress.js';

const MiB = 1024 * 1024;
const a = `sha256:${'a'.repeat(64)}`;
const b = `sha256:${'b'.repeat(64)}`;

function renderer(tty: boolean) {
  let clock = 0;
  let out = '';
  const write = (text: string): boolean => {
    out += text;
    return true;
  };
  const stream = { isTTY: tty, write } as unknown as NodeJS.WriteStream;
  const progress = new ProgressRenderer(stream, true, () => clock);
  return {
    progress,
    emit: progress.listener,
    tick: (ms: number) => {
      clock += ms;
    },
    output: () => out,
    /** What a terminal shows on its last line: the text after the last carriage return. */
    statusLine: () => out.slice(out.lastIndexOf('\r')).replace('\r\x1b[K', ''),
  };
}

it('a push on a TTY: waits for the export, then bytes, rate and ETA in layer data, per-layer lines with what was stored', () => {
  const r = renderer(true);
  r.emit({ type: 'plan', operation: 'push', image: 'app:1', layers: 2, missing: 2 });
  r.emit({ type: 'export', image: 'app:1' });
  r.tick(3200);
  assert.match(r.progress.status(), /^waiting for the engine to export app:1… 3s$/);
  r.emit({ type: 'layer-start', diffId: a, size: 100 * MiB });
  r.emit({ type: 'layer-start', diffId: b, size: 100 * MiB });
  r.emit({ type: 'layer-progress', diffId: a, bytes: 0, size: 100 * MiB });
  r.tick(2000);
  r.emit({ type: 'layer-progress', diffId: a, bytes: 50 * MiB, size: 100 * MiB });
  assert.equal(r.progress.status(), '[######..................]  50.0 MiB / 200.0 MiB layer data  25.0 MiB/s  ETA 6s  0/2 layers');
  r.emit({ type: 'layer-done', diffId: a, bytes: 20 * MiB, size: 100 * MiB, result: 'uploaded' });
  assert.match(r.output(), /aaaaaaaaaaaa {2}uploaded {2}100\.0 MiB \(20\.0 MiB stored\)\n/);
  r.progress.finish();
  assert.equal(r.statusLine(), '', 'finish clears the status line');
});

it('a pull: after the downloads end, says the engine is loading', () => {
  const r = renderer(true);
  r.emit({ type: 'plan', operation: 'pull', image: 'app:1', layers: 1, missing: 1 });
  r.emit({ type: 'layer-start', diffId: a, size: 10 * MiB });
  r.emit({ type: 'load', engine: 'unix:///x.sock', layers: 1, state: 'start' });
  r.emit({ type: 'layer-done', diffId: a, bytes: 4 * MiB, size: 10 * MiB, result: 'downloaded' });
  r.tick(2500);
  assert.equal(r.progress.status(), 'the engine is loading app:1… 2s');
  r.emit({ type: 'load', engine: 'unix:///x.sock', layers: 1, state: 'done' });
  assert.equal(r.progress.status(), '');
  r.progress.finish();
});

it('a pull whose layers start one by one as the load reaches them: the load is announced once, after the last', () => {
  const r = renderer(false);
  r.emit({ type: 'plan', operation: 'pull', image: 'app:1', layers: 2, missing: 2 });
  r.emit({ type: 'load', engine: 'unix:///x.sock', layers: 2, state: 'start' });
  r.emit({ type: 'layer-start', diffId: a, size: 10 * MiB });
  r.emit({ type: 'layer-done', diffId: a, bytes: 4 * MiB, size: 10 * MiB, result: 'downloaded' });
  assert.doesNotMatch(r.output(), /downloads done/, 'one layer of two is not all of them');
  r.emit({ type: 'layer-start', diffId: b, size: 10 * MiB });
  r.emit({ type: 'layer-done', diffId: b, bytes: 4 * MiB, size: 10 * MiB, result: 'downloaded' });
  assert.equal(r.output().match(/downloads done; the engine is loading app:1/g)?.length, 1);
});

it('not a TTY: plain lines, no escape codes, a progress line every 10 s', () => {
  const r = renderer(false);
  r.emit({ type: 'plan', operation: 'push', image: 'app:1', layers: 1, missing: 1 });
  r.emit({ type: 'export', image: 'app:1' });
  r.emit({ type: 'layer-start', diffId: a, size: 100 * MiB });
  r.emit({ type: 'layer-progress', diffId: a, bytes: 8 * MiB, size: 100 * MiB });
  r.tick(10_000);
  r.emit({ type: 'layer-progress', diffId: a, bytes: 60 * MiB, size: 100 * MiB });
  r.emit({ type: 'layer-done', diffId: a, bytes: 100 * MiB, size: 100 * MiB, result: 'uploaded' });
  const out = r.output();
  assert.ok(!out.includes('\x1b') && !out.includes('\r'), 'no escape codes or carriage returns');
  assert.deepEqual(out.split('\n'), [
    'push app:1: 1 layers, 1 to upload',
    '  waiting for the engine to export app:1',
    '  [##############..........]  60.0 MiB / 100.0 MiB layer data  6.0 MiB/s  ETA 7s  0/1 layers',
    '  aaaaaaaaaaaa  uploaded  100.0 MiB',
    '',
  ]);
});
