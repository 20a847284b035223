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
