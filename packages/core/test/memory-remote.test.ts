import { remoteConformance } from '@dogestry/core/conformance';
import { MemoryRemote } from '@dogestry/core/transport';

remoteConformance('memory', async () => ({ remote: new MemoryRemote() }));

const seeded = new MemoryRemote({ readOnly: true });
remoteConformance(
  'memory (read-only)',
  async () => ({
    remote: seeded,
    seed: async (key, bytes) => {
      seeded.objects.set(key, { bytes, modified: new Date() });
    },
  }),
  { readOnly: true },
);
