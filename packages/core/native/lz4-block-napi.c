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

extern void *malloc(__SIZE_TYPE__ size);
extern void free(void *pointer);

/* One decodeLater: its arrays' bytes, the result, and references that keep the arrays and `done` alive. */
typedef struct {
  napi_async_work work;
  napi_ref arguments[3]; /* input, output, done */
  u8 *input, *output;
  u32 inputLength, outputLength;
  int result;
} Decoding;

static void decode_on_pool(napi_env env, void *data) {
  (void)env;
  Decoding *job = data;
  job->result = decode(job->input, job->inputLength, job->output, job->outputLength);
}

static void drop(napi_env env, Decoding *job) {
  for (int i = 0; i < 3; i++)
    if (job->arguments[i]) napi_delete_reference(env, job->arguments[i]);
  if (job->work) napi_delete_async_work(env, job->work);
  free(job);
}

/* Back on the calling thread: let go of the arrays, then hand `done` the result. */
static void decoded(napi_env env, napi_status status, void *data) {
  (void)status;
  Decoding *job = data;
  napi_value done = 0, self = 0, result = number(env, job->result);
  napi_get_reference_value(env, job->arguments[2], &done);
  drop(env, job);
  napi_get_undefined(env, &self);
  if (done) napi_call_function(env, self, done, 1, &result, 0);
}

static napi_value js_decode_later(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], name;
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
  *job = (Decoding){.input = input, .output = output, .inputLength = inputLength, .outputLength = outputLength};
  for (int i = 0; i < 3; i++)
    if (napi_create_reference(env, argv[i], 1, &job->arguments[i]) != napi_ok) goto failed;
  if (napi_create_string_utf8(env, "dogestry lz4 decode", (size_t)-1, &name) != napi_ok ||
      napi_create_async_work(env, 0, name, decode_on_pool, decoded, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok)
    goto failed;
  return 0;
failed:
  drop(env, job);
  napi_throw_error(env, 0, "lz4 block codec: could not queue the decode");
  return 0;
}

/* Loaded once per thread that requires it (Node-API modules may load in worker threads). */
__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  static const struct exported functions[] = {{"encode", js_encode}, {"decode", js_decode}, {"decodeLater", js_decode_later}};
  return export_functions(env, exports, functions, 3);
}
