/*
 * LZ4 block encoding and decoding for dogestry, built by scripts/build-native.sh twice: to
 * WebAssembly (packages/core/wasm/lz4-block.wasm, for every platform) and natively for
 * linux-x64 (packages/core/native/, with lz4-block-napi.c; on layer 1 of the bench's real
 * image its encoding takes 1.62-1.82 s against the WebAssembly's 1.91-2.04). Both are committed. Written
 * here from the block format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md),
 * for one reason: speed on real layers, with no thread-pool hop and no fresh buffer per call.
 *
 * Decoding: lz4_flex's WebAssembly build decodes at ~1.2 GB/s here, the lz4 tool at ~2.9. The
 * common sequence (under 15 literals, a match under 19 bytes at least 16 back, far from both
 * ends) takes a path of three 16-byte moves and no per-field checks: on /usr/bin's 663 MB that
 * cut the decode calls from 0.46 to 0.33 s (cpu-prof, 2 runs each).
 *
 * Encoding: the greedy single-probe search every fast LZ4 encoder makes (a 4096-entry table of
 * where each hashed 4-byte sequence was last seen, a stride that grows while nothing matches).
 * On the same 663 MB in 1 MiB blocks its calls take 1.43 s against lz4-napi's synchronous
 * block calls' 1.82 s, for 338.7 MiB against 339.5 (the lz4 tool's -1: 338.4).
 *
 * No libc and no static data: the caller owns the memory layout and passes pointers into
 * this module's memory. Every write is checked against its bounds: a corrupt or hostile
 * block yields a negative result, never a write outside [dst, dst + dstCap); an input that
 * does not fit its budget yields 0. No read leaves [src, src + srcLen) either (natively, the
 * bytes past a buffer may not be mapped).
 */
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

/* A function the WebAssembly module exports (the native build's glue calls it). */
#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name) static
#endif

/* Unaligned 4- and 8-byte reads; 8- and 16-byte moves (i64 / v128 loads and stores). */
static inline u32 read32(const u8 *p) {
  u32 v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

static inline u64 read64(const u8 *p) {
  u64 v;
  __builtin_memcpy(&v, p, 8);
  return v;
}

static inline void copy8(u8 *d, const u8 *s) {
  u64 v;
  __builtin_memcpy(&v, s, 8);
  __builtin_memcpy(d, &v, 8);
}

typedef u8 v16 __attribute__((vector_size(16), aligned(1)));
static inline void copy16(u8 *d, const u8 *s) {
  v16 v;
  __builtin_memcpy(&v, s, 16);
  __builtin_memcpy(d, &v, 16);
}

/* A length's 255-continued extension; returns 0 on running out of input. */
static inline int extend(const u8 **ip, const u8 *iend, u32 *length) {
  u32 s;
  do {
    if (*ip >= iend) return 0;
    s = *(*ip)++;
    *length += s;
  } while (s == 255);
  return 1;
}

/* Errors: the input ends inside a sequence; a literal run or match overruns the output;
 * a match reaches before the start of the output; the output is not filled exactly. */
#define TRUNCATED (-1)
#define OVERRUN (-2)
#define BAD_OFFSET (-3)
#define SHORT (-4)

/*
 * Decode the block [src, src + srcLen) into [dst, dst + dstCap). Answers the bytes written,
 * which must be exactly dstCap (the frame says how many a block holds), or a negative error.
 */
EXPORT("decode") int decode(const u8 *src, u32 srcLen, u8 *dst, u32 dstCap) {
  const u8 *ip = src;
  const u8 *const iend = src + srcLen;
  u8 *op = dst;
  u8 *const oend = dst + dstCap;
  for (;;) {
    if (ip >= iend) return TRUNCATED;
    const u32 token = *ip++;
    u32 lit = token >> 4;
    u32 offset;
    u32 length = token & 15;
    if (lit < 15 && iend - ip >= 18 && oend - op >= 46) {
      /*
       * The common sequence, far from both ends: at most 14 literals, so one 16-byte move,
       * and at least 4 input bytes after them (so this is not the last sequence, and the
       * offset is there); at most 18 match bytes, so two 16-byte moves, all within oend.
       */
      copy16(op, ip);
      op += lit;
      ip += lit;
      offset = (u32)ip[0] | ((u32)ip[1] << 8);
      ip += 2;
      if (length < 15 && offset >= 16 && offset <= (u32)(op - dst)) {
        const u8 *match = op - offset;
        copy16(op, match);
        copy16(op + 16, match + 16); /* reads only bytes already final: offset >= 16 */
        op += length + 4;
        continue;
      }
    } else {
      if (lit == 15 && !extend(&ip, iend, &lit)) return TRUNCATED;
      if (lit > (u32)(iend - ip)) return TRUNCATED;
      if (lit > (u32)(oend - op)) return OVERRUN;
      if (lit <= 16 && iend - ip >= 16 && oend - op >= 16) {
        copy16(op, ip); /* the usual short run: one move, the excess overwritten later */
      } else {
        __builtin_memmove(op, ip, lit);
      }
      op += lit;
      ip += lit;
      if (ip == iend) break; /* the last sequence holds literals only */
      if (iend - ip < 2) return TRUNCATED;
      offset = (u32)ip[0] | ((u32)ip[1] << 8);
      ip += 2;
    }
    if (offset == 0 || offset > (u32)(op - dst)) return BAD_OFFSET;
    if (length == 15 && !extend(&ip, iend, &length)) return TRUNCATED;
    length += 4;
    if (length > (u32)(oend - op)) return OVERRUN;
    const u8 *match = op - offset;
    u8 *const end = op + length;
    if (offset >= 16 && (u32)(oend - op) >= length + 16) {
      /* The source is at least 16 bytes behind: 16-byte moves never read what they write. */
      do {
        copy16(op, match);
        op += 16;
        match += 16;
      } while (op < end);
    } else if (offset >= 8 && (u32)(oend - op) >= length + 8) {
      do {
        copy8(op, match);
        op += 8;
        match += 8;
      } while (op < end);
    } else {
      /* A short period (runs of one byte, tar padding): copy what is there, doubling. */
      while (op < end) {
        u32 n = (u32)(op - match);
        if (n > (u32)(end - op)) n = (u32)(end - op);
        __builtin_memcpy(op, match, n);
        op += n;
      }
    }
    op = end;
  }
  return op == oend ? (int)(op - dst) : SHORT;
}

/* The format's limits: a match is at least 4 bytes and at most 65535 back; the last match
 * starts at least 12 bytes before the end of the block, and the last 5 bytes are literals. */
#define MIN_MATCH 4
#define MAX_DISTANCE 65535
#define MATCH_START_LIMIT 12
#define LAST_LITERALS 5
/* The table: 2^12 positions (16 KiB, the lz4 tool's default). */
#define HASH_LOG 12
/* After 2^6 misses in a row the stride grows by one byte (the lz4 tool's acceleration 1). */
#define SKIP_TRIGGER 6

/* The hash of the 5 bytes at p (read as 8: p is at least 12 before the end): on /usr/bin it
 * finds better matches sooner than a hash of 4, 1.43 s of calls against 1.70. */
static inline u32 hash5(const u8 *p) { return (u32)(((read64(p) << 24) * 889523592379ull) >> (64 - HASH_LOG)); }

/* A literal or match length's 255-continued extension. */
static inline u8 *put_length(u8 *op, u32 n) {
  while (n >= 255) {
    *op++ = 255;
    n -= 255;
  }
  *op++ = (u8)n;
  return op;
}

/*
 * Encode [src, src + srcLen) as one block into [dst, dst + dstCap), using the 16 KiB at
 * `table` as scratch. Answers the block's length, or 0 when it would not fit in dstCap: the
 * caller passes the most a block may take and be worth keeping, so input that does not
 * compress is given up on as soon as that is clear.
 */
EXPORT("encode") u32 encode(const u8 *src, u32 srcLen, u8 *dst, u32 dstCap, u32 *table) {
  const u8 *const iend = src + srcLen;
  const u8 *const startLimit = iend - MATCH_START_LIMIT;
  const u8 *const matchEnd = iend - LAST_LITERALS;
  u8 *const oend = dst + dstCap;
  const u8 *ip = src + 1;
  const u8 *anchor = src; /* the first byte not yet written */
  u8 *op = dst;
  __builtin_memset(table, 0, sizeof(u32) << HASH_LOG);
  if (srcLen > MATCH_START_LIMIT) {
    for (;;) {
      /* Look for a 4-byte sequence seen before within reach, striding faster while none is. */
      const u8 *match;
      const u8 *next = ip;
      u32 misses = 1u << SKIP_TRIGGER;
      for (;;) {
        ip = next;
        next = ip + (misses++ >> SKIP_TRIGGER);
        if (next > startLimit) goto last_literals;
        const u32 h = hash5(ip);
        match = src + table[h];
        table[h] = (u32)(ip - src);
        if (ip - match <= MAX_DISTANCE && read32(match) == read32(ip)) break;
      }
      /* The match may begin earlier than where it was found. */
      while (ip > anchor && match > src && ip[-1] == match[-1]) {
        ip--;
        match--;
      }
      const u32 lit = (u32)(ip - anchor);
      /* Token, length bytes, the literals moved 16 at a time, the offset: all within oend. */
      if ((u32)(oend - op) < lit + lit / 255 + 32) return 0;
      u8 *token = op++;
      if (lit >= 15) {
        *token = 15 << 4;
        op = put_length(op, lit - 15);
      } else {
        *token = (u8)(lit << 4);
      }
      if (ip + 16 <= iend) {
        for (u32 i = 0; i < lit; i += 16) copy16(op + i, anchor + i); /* reads up to ip + 15 */
      } else {
        __builtin_memcpy(op, anchor, lit);
      }
      op += lit;
      /* One or more sequences: a match, then either another match at once or a new search. */
      for (;;) {
        const u32 offset = (u32)(ip - match);
        *op++ = (u8)offset;
        *op++ = (u8)(offset >> 8);
        const u8 *const start = ip;
        ip += MIN_MATCH;
        match += MIN_MATCH;
        while (ip + 8 <= matchEnd) {
          const u64 diff = read64(ip) ^ read64(match);
          if (diff) {
            ip += __builtin_ctzll(diff) >> 3;
            goto counted;
          }
          ip += 8;
          match += 8;
        }
        while (ip < matchEnd && *ip == *match) {
          ip++;
          match++;
        }
      counted:;
        const u32 length = (u32)(ip - start) - MIN_MATCH;
        if ((u32)(oend - op) < length / 255 + 32) return 0;
        if (length >= 15) {
          *token |= 15;
          op = put_length(op, length - 15);
        } else {
          *token |= (u8)length;
        }
        anchor = ip;
        if (ip > startLimit) goto last_literals;
        table[hash5(ip - 2)] = (u32)(ip - 2 - src);
        const u32 h = hash5(ip);
        match = src + table[h];
        table[h] = (u32)(ip - src);
        if (ip - match > MAX_DISTANCE || read32(match) != read32(ip)) break;
        token = op++;
        *token = 0;
      }
      ip++;
    }
  }
last_literals: {
  const u32 lit = (u32)(iend - anchor);
  if ((u32)(oend - op) < lit + lit / 255 + 2) return 0;
  if (lit >= 15) {
    *op++ = 15 << 4;
    op = put_length(op, lit - 15);
  } else {
    *op++ = (u8)(lit << 4);
  }
  __builtin_memcpy(op, anchor, lit);
  op += lit;
}
  return (u32)(op - dst);
}
