/*
 * The LZ4 block codec of ../wasm/lz4-block.c as a Node-API module, built by scripts/build-native.sh
 * for linux-x64 (lz4-block.linux-x64.node, committed; lz4-block.ts loads it where it can, and
 * the WebAssembly build everywhere else). The same C, so the same blocks, but about 15% less
 * CPU to encode: no copies into and out of a module's memory, and code compiled ahead of time.
 *
 *   encode(input: Uint8Array, output: Uint8Array): number   the block's length, or 0
 *   decode(input: Uint8Array, output: Uint8Array): number   output.length, or a negative error
 *   decodeLater(input, output, done: (result: number) => void): void
 *                                    decode's work on libuv's thread pool, its result then given
 *                                    to `done` on this thread; until then neither array may be
 *                                    touched (the module holds them, so they stay alive)
 *
 * All work on the arrays' own bytes; none reads or writes outside them.
 *
 * Node-API is declared in node-api.h, so the build needs no headers. No libc either: memcpy,
 * memset, malloc and free are node's own.
 */
#include "../wasm/lz4-block.c"

#include "node-api.h"

/* The call's two Uint8Arrays (Buffers are), each under 2 GiB; else a TypeError is thrown and 0 answered. */
static int two_arrays(napi_env env, napi_callback_info info, u8 **input, u32 *inputLength, u8 **output, u32 *outputLength) {
  size_t argc = 2;
  napi_value argv[2];
  void *data[2];
  size_t length[2];
  if (napi_get_cb_info(env, info, &argc, argv, 0, 0) != napi_ok || argc < 2) goto bad;
  for (int i = 0; i < 2; i++) {
    napi_typedarray_type type;
    if (napi_get_typedarray_info(env, argv[i], &type, &length[i], &data[i], 0, 0) != napi_ok) goto bad;
    if (type != napi_uint8_array || length[i] > 0x7fffffff) goto bad;
  }
  *input = data[0];
  *inputLength = (u32)length[0];
  *output = data[1];
  *outputLength = (u32)length[1];
  return 1;
bad:
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "lz4 block codec: expected (input: Uint8Array, output: Uint8Array)");
  return 0;
}

static napi_value number(napi_env env, int value) {
  napi_value result = 0;
  napi_create_int32(env, value, &result);
  return result;
}

static napi_value js_encode(napi_env env, napi_callback_info info) {
  u8 *input, *output;
  u32 inputLength, outputLength;
  if (!two_arrays(env, info, &input, &inputLength, &output, &outputLength)) return 0;
  u32 table[1u << HASH_LOG];
  return number(env, (int)encode(input, inputLength, output, outputLength, table));
}

static napi_value js_decode(napi_env env, napi_callback_info info) {
  u8 *input, *output;
  u32 inputLength, outputLength;
  if (!two_arrays(env, info, &input, &inputLength, &output, &outputLength)) return 0;
  return number(env, decode(input, inputLength, output, outputLength));
}

/* One decodeLater: held input, output and done; the arrays' bytes; the result. */
typedef struct {
  later base;
  u8 *input, *output;
  u32 inputLength, outputLength;
  int result;
} Decoding;

static void decode_on_pool(later *base) {
  Decoding *job = (Decoding *)base;
  job->result = decode(job->input, job->inputLength, job->output, job->outputLength);
}

static napi_value decode_result(napi_env env, later *base) {
  return number(env, ((Decoding *)base)->result);
}

static napi_value js_decode_later(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  u8 *input, *output;
  u32 inputLength, outputLength;
  if (!two_arrays(env, info, &input, &inputLength, &output, &outputLength)) return 0;
  if (napi_get_cb_info(env, info, &argc, argv, 0, 0) != napi_ok || argc < 3) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "lz4 block codec: expected (input, output, done)");
    return 0;
  }
  Decoding *job = malloc(sizeof(Decoding));
  if (!job) {
    napi_throw_error(env, 0, "lz4 block codec: out of memory");
    return 0;
  }
  *job = (Decoding){.base = {.run = decode_on_pool, .answer = decode_result},
                    .input = input,
                    .output = output,
                    .inputLength = inputLength,
                    .outputLength = outputLength};
  return later_queue(env, &job->base, argv, "dogestry lz4 decode");
}

/* Loaded once per thread that requires it (Node-API modules may load in worker threads). */
__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  static const struct exported functions[] = {{"encode", js_encode}, {"decode", js_decode}, {"decodeLater", js_decode_later}};
  return export_functions(env, exports, functions, 3);
}
