/**
 * Poll `condition` until it holds, `ms` pass, or `givenUp()` says waiting is pointless (a
 * server process that exited); answers whether it held.
 */
export async function until(
  condition: () => Promise<boolean>,
  { ms = 10_000, givenUp = () => false }: { ms?: number; givenUp?: () => boolean } = {},
): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return true;
    if (givenUp() || Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Whether `promise` settles (resolves or rejects) within `ms`. The deadline's timer is cleared
 * once the race is decided, so a passing test does not keep its file running for `ms`.
 */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
