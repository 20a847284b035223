/*
 * sha256 off the calling thread, with no thread of our own: a Node-API module (built by
 * scripts/build-native.sh for linux-x64 as sha256.linux-x64.node, committed) that runs
 * OpenSSL's SHA256_Update, which node itself exports, as async work on libuv's thread pool.
 * sha256-native.ts drives it; where it does not load (another platform, a node without those
 * symbols: the module is linked to resolve every symbol as it loads, so that is a load error,
 * never a crash later), streams hash as before (sha256.ts).
 *
 *   init(context: Uint8Array): void             a fresh hash in `context` (CONTEXT_BYTES or more)
 *   update(context, chunks: Uint8Array[], done: () => void): void
 *                                               hash `chunks`, in order, on the thread pool; then
 *                                               call `done` on this thread. Until then neither
 *                                               `context` nor a chunk may change: the caller
 *                                               holds them, and sends no other update of `context`.
 *   final(context, digest: Uint8Array): void    the 32-byte digest of everything hashed into `digest`
 *
 * A worker thread that requires the module gets its own functions (Node-API modules load per
 * thread). Node-API is declared in node-api.h, and no libc is linked: malloc and free, like
 * OpenSSL's functions, come from node's process.
 */
#include "node-api.h"

typedef unsigned char u8;
typedef unsigned int u32;

/* OpenSSL's SHA256_CTX is 112 bytes; JavaScript gives 256, checked below. */
#define CONTEXT_BYTES 256
extern int SHA256_Init(void *context);
extern int SHA256_Update(void *context, const void *data, size_t length);
extern int SHA256_Final(u8 *digest, void *context);

/* One update: held context, chunks and done; the context's and chunks' bytes. */
typedef struct {
  later base;
  void *context;
  u32 count;
  struct {
    const u8 *bytes;
    size_t length;
  } chunks[];
} Update;

static void *bad(napi_env env, const char *expected) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", expected);
  return 0;
}

/* The bytes of a Uint8Array (Buffers are) of at least `minimum` bytes, or 0 with a TypeError thrown. */
static void *bytes_of(napi_env env, napi_value value, size_t minimum, size_t *length, const char *expected) {
  napi_typedarray_type type;
  void *data = 0;
  size_t have = 0;
  if (napi_get_typedarray_info(env, value, &type, &have, &data, 0, 0) != napi_ok || type != napi_uint8_array || have < minimum)
    return bad(env, expected);
  if (length) *length = have;
  return data ? data : (void *)"";
}

static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, 0, 0) != napi_ok || argc < 1) return bad(env, "sha256: expected (context)");
  void *context = bytes_of(env, argv[0], CONTEXT_BYTES, 0, "sha256: expected a context of 256 bytes");
  if (context) SHA256_Init(context);
  return 0;
}

static napi_value js_final(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, 0, 0) != napi_ok || argc < 2) return bad(env, "sha256: expected (context, digest)");
  void *context = bytes_of(env, argv[0], CONTEXT_BYTES, 0, "sha256: expected a context of 256 bytes");
  if (!context) return 0;
  u8 *digest = bytes_of(env, argv[1], 32, 0, "sha256: expected a digest of 32 bytes");
  if (digest) SHA256_Final(digest, context);
  return 0;
}

static void hash_chunks(later *base) {
  Update *update = (Update *)base;
  for (u32 i = 0; i < update->count; i++) SHA256_Update(update->context, update->chunks[i].bytes, update->chunks[i].length);
}

static napi_value js_update(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  u32 count = 0;
  if (napi_get_cb_info(env, info, &argc, argv, 0, 0) != napi_ok || argc < 3 || napi_get_array_length(env, argv[1], &count) != napi_ok)
    return bad(env, "sha256: expected (context, chunks: Uint8Array[], done)");
  void *context = bytes_of(env, argv[0], CONTEXT_BYTES, 0, "sha256: expected a context of 256 bytes");
  if (!context) return 0;
  Update *update = malloc(sizeof(Update) + count * sizeof(update->chunks[0]));
  if (!update) {
    napi_throw_error(env, 0, "sha256: out of memory");
    return 0;
  }
  *update = (Update){.base = {.run = hash_chunks}, .context = context, .count = count};
  for (u32 i = 0; i < count; i++) {
    napi_value chunk;
    if (napi_get_element(env, argv[1], i, &chunk) != napi_ok ||
        !(update->chunks[i].bytes = bytes_of(env, chunk, 0, &update->chunks[i].length, "sha256: expected chunks of Uint8Array"))) {
      later_free(env, &update->base);
      return 0;
    }
  }
  return later_queue(env, &update->base, argv, "dogestry sha256");
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  static const struct exported functions[] = {{"init", js_init}, {"update", js_update}, {"final", js_final}};
  return export_functions(env, exports, functions, 3);
}
