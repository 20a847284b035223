/**
 * What importing core costs at every start: it must not load Node's bundled undici, which an
 * ESM import of node:http does (its lazy WebSocket getters): 13 MiB and 50-70 ms (node-http.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { it } from 'node:test';
import { promisify } from 'node:util';

it('importing core and its internals does not load Node’s bundled undici', async () => {
  const script = `await import('@dogestry/core'); await import('@dogestry/core/internal');
    process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => /undici|_http_client/.test(m))));`;
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, '--input-type=module', '-e', script]);
  const loaded = JSON.parse(stdout) as string[];
  assert.ok(loaded.includes('NativeModule _http_client'), 'node:http is loaded (the engine client uses it)');
  assert.deepEqual(
    loaded.filter((m) => m.includes('undici')),
    [],
  );
});
