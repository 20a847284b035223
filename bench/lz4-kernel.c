/*
 * The lz4 block kernels alone, in memory, natively: the lz4 library the `lz4` tool links
 * (liblz4.so.1, acceleration 1) and dogestry's own C (packages/core/wasm/lz4-block.c, compiled
 * here for x86-64 instead of WebAssembly), on the same 1 MiB blocks of one file. With
 * bench/lz4-kernel.mjs (the same C as the WebAssembly push and pull run) it splits our codec's
 * cost into the algorithm (our C against the library's, both native) and the platform (the same
 * C as WebAssembly against native). bench/codecs.ts builds and runs it:
 *   lz4-kernel FILE ROUNDS  ->  one line per kernel: name, encode s, decode s, stored bytes
 * Each figure is the fastest of ROUNDS passes over the whole file (as `lz4 -b` reports), in
 * thread CPU seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../packages/core/wasm/lz4-block.c"

/* liblz4's API (its header is in liblz4-dev, which the tool does not need). */
int LZ4_sizeofState(void);
int LZ4_compress_fast_extState(void *state, const char *src, char *dst, int srcSize, int dstCapacity, int acceleration);
int LZ4_decompress_safe(const char *src, char *dst, int compressedSize, int dstCapacity);

#define BLOCK (1 << 20)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef u32 (*encode_fn)(const u8 *src, u32 len, u8 *dst, u32 cap, void *scratch);
typedef int (*decode_fn)(const u8 *src, u32 len, u8 *dst, u32 cap);

static u32 ours_encode(const u8 *src, u32 len, u8 *dst, u32 cap, void *scratch) { return encode(src, len, dst, cap, scratch); }
static int ours_decode(const u8 *src, u32 len, u8 *dst, u32 cap) { return decode(src, len, dst, cap); }
static u32 lib_encode(const u8 *src, u32 len, u8 *dst, u32 cap, void *scratch) {
  return (u32)LZ4_compress_fast_extState(scratch, (const char *)src, (char *)dst, (int)len, (int)cap, 1);
}
static int lib_decode(const u8 *src, u32 len, u8 *dst, u32 cap) { return LZ4_decompress_safe((const char *)src, (char *)dst, (int)len, (int)cap); }

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: lz4-kernel FILE ROUNDS\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  const long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  /* 16 bytes of slack: our encoder may read that far past a block (never into its output). */
  u8 *data = malloc((size_t)size + 16);
  if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "lz4-kernel: cannot read %s\n", argv[1]);
    return 1;
  }
  fclose(f);
  const int rounds = atoi(argv[2]);
  const long blocks = (size + BLOCK - 1) / BLOCK;
  u8 *stored = malloc((size_t)blocks * BLOCK);
  u32 *storedLength = malloc(sizeof(u32) * (size_t)blocks);
  u8 *out = malloc(BLOCK + 64);
  void *scratch = malloc(LZ4_sizeofState() > 16384 ? (size_t)LZ4_sizeofState() : 16384);
  const struct {
    const char *name;
    encode_fn encode;
    decode_fn decode;
  } kernels[] = {{"liblz4", lib_encode, lib_decode}, {"ours-native", ours_encode, ours_decode}};
  for (int k = 0; k < 2; k++) {
    double bestEncode = 1e9, bestDecode = 1e9;
    long total = 0;
    for (int r = 0; r < rounds; r++) {
      /* Each block kept compressed only where that saves 1/8, as push stores it. */
      double t = now();
      total = 0;
      for (long b = 0; b < blocks; b++) {
        const u32 length = (u32)(b == blocks - 1 ? size - b * BLOCK : BLOCK);
        storedLength[b] = kernels[k].encode(data + b * BLOCK, length, stored + b * BLOCK, length / 8 * 7, scratch);
        total += storedLength[b] ? storedLength[b] : length;
      }
      const double encoded = now() - t;
      if (encoded < bestEncode) bestEncode = encoded;
      t = now();
      for (long b = 0; b < blocks; b++) {
        const u32 length = (u32)(b == blocks - 1 ? size - b * BLOCK : BLOCK);
        if (storedLength[b] && kernels[k].decode(stored + b * BLOCK, storedLength[b], out, length) != (int)length) {
          fprintf(stderr, "lz4-kernel: %s did not decode block %ld\n", kernels[k].name, b);
          return 1;
        }
      }
      const double decoded = now() - t;
      if (decoded < bestDecode) bestDecode = decoded;
    }
    printf("%s %.3f %.3f %ld\n", kernels[k].name, bestEncode, bestDecode, total);
  }
  return 0;
}
