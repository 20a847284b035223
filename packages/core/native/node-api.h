/*
 * The part of Node-API (js_native_api.h and node_api.h in Node's headers) that core's native
 * modules use, declared here: Node-API is a stable C ABI, so the builds need no headers and give
 * the same bytes whichever Node is installed. The functions are node's own, resolved as it loads
 * a module, as are malloc and free (no libc is linked). Then what both modules share: exporting
 * functions, and work on libuv's thread pool that calls JavaScript back.
 */
typedef __SIZE_TYPE__ size_t;

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_ref__ *napi_ref;
typedef struct napi_async_work__ *napi_async_work;
typedef struct napi_callback_info__ *napi_callback_info;
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);
typedef enum { napi_ok } napi_status;
typedef void (*napi_async_execute_callback)(napi_env env, void *data);
typedef void (*napi_async_complete_callback)(napi_env env, napi_status status, void *data);
typedef enum { napi_int8_array, napi_uint8_array } napi_typedarray_type;

extern napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *argc, napi_value *argv, napi_value *self,
                                    void **data);
extern napi_status napi_get_typedarray_info(napi_env, napi_value, napi_typedarray_type *type, size_t *length, void **data,
                                            napi_value *arraybuffer, size_t *offset);
extern napi_status napi_get_array_length(napi_env, napi_value, unsigned int *result);
extern napi_status napi_get_element(napi_env, napi_value object, unsigned int index, napi_value *result);
extern napi_status napi_create_int32(napi_env, int value, napi_value *result);
extern napi_status napi_create_string_utf8(napi_env, const char *text, size_t length, napi_value *result);
extern napi_status napi_get_undefined(napi_env, napi_value *result);
extern napi_status napi_create_reference(napi_env, napi_value, unsigned int initial, napi_ref *result);
extern napi_status napi_get_reference_value(napi_env, napi_ref, napi_value *result);
extern napi_status napi_delete_reference(napi_env, napi_ref);
extern napi_status napi_call_function(napi_env, napi_value self, napi_value function, size_t argc, const napi_value *argv,
                                      napi_value *result);
extern napi_status napi_create_async_work(napi_env, napi_value resource, napi_value name,
                                          napi_async_execute_callback execute, napi_async_complete_callback complete,
                                          void *data, napi_async_work *result);
extern napi_status napi_queue_async_work(napi_env, napi_async_work);
extern napi_status napi_delete_async_work(napi_env, napi_async_work);
extern napi_status napi_create_function(napi_env, const char *name, size_t length, napi_callback cb, void *data,
                                        napi_value *result);
extern napi_status napi_set_named_property(napi_env, napi_value object, const char *name, napi_value value);
extern napi_status napi_throw_type_error(napi_env, const char *code, const char *message);
extern napi_status napi_throw_error(napi_env, const char *code, const char *message);
extern void *malloc(size_t size);
extern void free(void *pointer);

/* Export `count` functions, by name, as the module's exports. */
struct exported {
  const char *name;
  napi_callback cb;
};

static napi_value export_functions(napi_env env, napi_value exports, const struct exported *functions, int count) {
  for (int i = 0; i < count; i++) {
    napi_value function;
    if (napi_create_function(env, functions[i].name, (size_t)-1, functions[i].cb, 0, &function) != napi_ok) return 0;
    if (napi_set_named_property(env, exports, functions[i].name, function) != napi_ok) return 0;
  }
  return exports;
}

/*
 * Work for libuv's thread pool, started by a call whose first three arguments it holds (so they
 * stay alive and JavaScript must leave them be) until it is done; the third is `done`, called
 * back on the calling thread with `answer`'s value, if any. A module's job struct starts with
 * this one.
 */
typedef struct later {
  napi_async_work work;
  napi_ref held[3];
  void (*run)(struct later *job);                     /* on the pool: touches no JavaScript */
  napi_value (*answer)(napi_env env, struct later *job); /* on the calling thread, or 0 */
} later;

static void later_run(napi_env env, void *data) {
  (void)env;
  later *job = data;
  job->run(job);
}

static void later_free(napi_env env, later *job) {
  for (int i = 0; i < 3; i++)
    if (job->held[i]) napi_delete_reference(env, job->held[i]);
  if (job->work) napi_delete_async_work(env, job->work);
  free(job);
}

/* Back on the calling thread: let go of the arguments, then call `done`. */
static void later_done(napi_env env, napi_status status, void *data) {
  (void)status;
  later *job = data;
  napi_value done = 0, self = 0, answer = job->answer ? job->answer(env, job) : 0;
  napi_get_reference_value(env, job->held[2], &done);
  later_free(env, job);
  napi_get_undefined(env, &self);
  if (done) napi_call_function(env, self, done, answer ? 1 : 0, &answer, 0);
}

/*
 * Queue `job` (malloc'd, zeroed but for its own fields), holding `argv[0..2]`. On failure it is
 * freed and an Error thrown. Answers undefined (0) either way.
 */
static napi_value later_queue(napi_env env, later *job, napi_value *argv, const char *name) {
  napi_value resource;
  for (int i = 0; i < 3; i++)
    if (napi_create_reference(env, argv[i], 1, &job->held[i]) != napi_ok) goto failed;
  if (napi_create_string_utf8(env, name, (size_t)-1, &resource) != napi_ok ||
      napi_create_async_work(env, 0, resource, later_run, later_done, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok)
    goto failed;
  return 0;
failed:
  later_free(env, job);
  napi_throw_error(env, 0, "could not queue work on libuv's thread pool");
  return 0;
}
