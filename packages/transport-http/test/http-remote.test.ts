import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import { remoteConformance } from '@dogestry/core/conformance';
import { createRemote } from '@dogestry/transport-http';
import { type Apache, startApache } from '../../../test/support/apache.js';
import { type Nginx, startNginx } from '../../../test/support/nginx.js';

let nginx: Nginx;
let apache: Apache;
let run = 0;
before(async () => {
  [nginx, apache] = await Promise.all([startNginx(), startApache()]);
});
after(async () => {
  await nginx?.stop();
  await apache?.stop();
});

// Apache answers 409 to a PUT or MKCOL under a missing collection (even the remote's own): each parent is made first.
remoteConformance('http: Apache mod_dav (MKCOL every parent, MOVE, PROPFIND listing)', async () => ({
  remote: await createRemote(`${apache.url}/dav/nested/conformance-${++run}/`),
}));

remoteConformance('http: nginx dav (PUT DELETE MKCOL, JSON autoindex)', async () => ({
  remote: await createRemote(`${nginx.url}/dav/conformance-${++run}/`),
}));

remoteConformance('http: nginx dav with MOVE (atomic create-only)', async () => ({
  remote: await createRemote(`${nginx.url}/davmove/conformance-${++run}/`),
}));

remoteConformance(
  'http: nginx static (read-only, no listing)',
  async () => {
    const dir = `static-${++run}`;
    return {
      remote: await createRemote(`${nginx.url}/static/${dir}/`),
      seed: async (key, bytes) => {
        const path = join(nginx.root, 'static', dir, ...key.split('/'));
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, bytes);
      },
    };
  },
  { readOnly: true },
);
