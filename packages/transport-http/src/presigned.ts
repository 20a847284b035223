/** When a SigV4 presigned URL stops working, from its X-Amz-Date and X-Amz-Expires. */
export function expiryOf(url: URL): Date | undefined {
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(url.searchParams.get('X-Amz-Date') ?? '');
  const seconds = Number(url.searchParams.get('X-Amz-Expires'));
  if (!date || !url.searchParams.has('X-Amz-Expires') || !Number.isFinite(seconds)) return undefined;
  const start = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]), Number(date[4]), Number(date[5]), Number(date[6]));
  return new Date(start + seconds * 1000);
}
