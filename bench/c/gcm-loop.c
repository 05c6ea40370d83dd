// gcm-loop: the baseline for hsm-kms benchmarks. It calls a PKCS#11 module
// directly in a tight C loop, one AES-256-GCM single-part operation
// (C_EncryptInit + C_Encrypt, or C_DecryptInit + C_Decrypt) per iteration, so
// the engine's throughput can be compared with what the module itself allows.
//
// Usage:
//   HSM_KMS_BENCH_PIN=... gcm-loop --module PATH (--token LABEL | --tokens L1,L2,...)
//       [--op encrypt|decrypt] [--key token|session] [--bytes N]
//       [--threads N] [--runs R] [--seconds S]
//
// Setup: C_Initialize with CKF_OS_LOCKING_OK, one read-write anchor session per
// token, CKU_USER login, and one new AES-256 key per token (CKA_TOKEN,
// CKA_PRIVATE and CKA_SENSITIVE true, CKA_EXTRACTABLE false). `--key session`
// uses a copy of that key with CKA_TOKEN false instead, which SoftHSM 2.6 keeps
// in memory, so it skips the token-file checks that it runs for token objects
// on every call. Each thread has its own session. With `--tokens`, thread i
// works on token i.
//
// Measurement: R runs of S seconds. In each run all threads start together and
// each counts its operations until S seconds have passed. A run's rate is the
// sum over threads of operations / elapsed seconds. The program prints one JSON
// line on stdout, with rates in operations per second:
//   {"op":"encrypt","key":"token","bytes":32,"threads":1,"tokens":1,
//    "seconds":1,"runs":[...],"median":...}
// At the end it destroys the keys it created, closes its sessions and calls
// C_Finalize. Any failed call, in setup, measurement or cleanup, ends the
// program with exit status 1 and a message on stderr naming the function and
// the CK_RV in hex. In that case stdout stays empty. An invalid command line
// or a missing PIN ends it with exit status 2.
//
// SIGINT or SIGTERM stops the measurement after the operations in progress,
// and the program then cleans up and exits with status 1.
//
// NOTE: a process killed by another signal, or stopped while a PKCS#11 call
// hangs, leaves its key on the token. Such keys have CKA_LABEL
// "hsm-kms gcm-loop benchmark key".
//
// Build: cc -std=c11 -O2 -Wall -Wextra -Werror -pthread -o gcm-loop gcm-loop.c -ldl
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../native/pkcs11_api.h"

#define PIN_ENVIRONMENT_VARIABLE "HSM_KMS_BENCH_PIN"

enum {
  KEY_BYTES = 32,
  IV_BYTES = 12,
  TAG_BYTES = 16,
  // SoftHSM 2.6 builds with C++ library assertions enabled (Fedora and RHEL
  // packages) abort in C_EncryptInit when the GCM AAD is empty, so every call
  // passes 32 bytes of AAD. Source: the SoftHSMv2 bug report "C_Encrypt
  // crashes with AES-GCM and empty AAD on Fedora 33". Debian's 2.6.1-2.1 does
  // not abort.
  AAD_BYTES = 32,
  // CK_TOKEN_INFO.label: UTF-8, padded with spaces, not NUL-terminated.
  TOKEN_LABEL_BYTES = 32,
  MAX_THREADS = 256,
  MAX_RUNS = 1000,
  // How often a missing token label makes the program call C_Finalize and
  // C_Initialize to rescan the slots (see find_token_slots).
  LABEL_RESCANS = 5,
  LABEL_RESCAN_DELAY_MS = 100,
};

#define MAX_SECONDS 3600.0

typedef enum { OP_ENCRYPT, OP_DECRYPT } Operation;
typedef enum { KEY_TOKEN, KEY_SESSION } KeyKind;

typedef struct {
  const char *module_path;
  // One label for all threads (--token), or one label per thread (--tokens).
  const char *labels[MAX_THREADS];
  unsigned label_count;
  int one_token_per_thread;
  Operation op;
  KeyKind key_kind;
  CK_ULONG payload_bytes;
  unsigned threads;
  unsigned runs;
  double seconds;
} Options;

// A distinct token with its slot, its anchor session and the keys this program
// created on it. The anchor session keeps the user logged in and owns the
// session copy of the key.
typedef struct {
  const char *label;
  CK_SLOT_ID slot;
  CK_SESSION_HANDLE anchor;
  CK_OBJECT_HANDLE token_key;
  CK_OBJECT_HANDLE session_key;
} Token;

typedef struct {
  unsigned index;
  CK_SESSION_HANDLE session;
  CK_OBJECT_HANDLE key;
  // Encryption uses bytes 0-3 for the thread index and bytes 4-11 for a
  // per-call counter (big-endian). Decryption reuses the IV of its ciphertext.
  CK_BYTE iv[IV_BYTES];
  uint64_t iv_counter;
  CK_GCM_PARAMS gcm;
  CK_MECHANISM mechanism;
  // Plaintext for encryption, ciphertext with tag for decryption.
  CK_BYTE *input;
  CK_ULONG input_len;
  CK_BYTE *output;
  CK_ULONG output_capacity;
  // Result of the current run.
  uint64_t operations;
  double elapsed_seconds;
  const char *failed_function;
  CK_RV failed_rv;
} Worker;

// Program state, global so that fail() can release whatever exists so far.
static Options options;
static void *module_handle;
static CK_FUNCTION_LIST *p11;
static int module_initialized;
static Token tokens[MAX_THREADS];
static unsigned token_count;
static Worker workers[MAX_THREADS];
static CK_BYTE aad[AAD_BYTES];

// Start gate of a run. Workers wait until the main thread opens it, so that
// all of them start together. The main thread aborts it instead when it cannot
// create a thread.
typedef enum { GATE_CLOSED, GATE_OPEN, GATE_ABORTED } GateState;
static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static GateState gate_state;

// Number of the SIGINT or SIGTERM received, or 0. Lock-free atomics are safe
// to write from a signal handler and visible to all threads.
static atomic_int stop_signal;

// ---------------------------------------------------------------------------
// Errors and cleanup

#define RV_NAME(name) {name, #name}
static const struct {
  CK_RV rv;
  const char *name;
} rv_names[] = {
    RV_NAME(CKR_OK),
    RV_NAME(CKR_GENERAL_ERROR),
    RV_NAME(CKR_FUNCTION_FAILED),
    RV_NAME(CKR_ARGUMENTS_BAD),
    RV_NAME(CKR_CANT_LOCK),
    RV_NAME(CKR_DATA_INVALID),
    RV_NAME(CKR_DATA_LEN_RANGE),
    RV_NAME(CKR_DEVICE_ERROR),
    RV_NAME(CKR_DEVICE_MEMORY),
    RV_NAME(CKR_DEVICE_REMOVED),
    RV_NAME(CKR_ENCRYPTED_DATA_INVALID),
    RV_NAME(CKR_ENCRYPTED_DATA_LEN_RANGE),
    RV_NAME(CKR_AEAD_DECRYPT_FAILED),
    RV_NAME(CKR_KEY_HANDLE_INVALID),
    RV_NAME(CKR_MECHANISM_INVALID),
    RV_NAME(CKR_MECHANISM_PARAM_INVALID),
    RV_NAME(CKR_OBJECT_HANDLE_INVALID),
    RV_NAME(CKR_OPERATION_ACTIVE),
    RV_NAME(CKR_OPERATION_NOT_INITIALIZED),
    RV_NAME(CKR_PIN_INCORRECT),
    RV_NAME(CKR_PIN_INVALID),
    RV_NAME(CKR_PIN_LEN_RANGE),
    RV_NAME(CKR_PIN_EXPIRED),
    RV_NAME(CKR_PIN_LOCKED),
    RV_NAME(CKR_SESSION_CLOSED),
    RV_NAME(CKR_SESSION_COUNT),
    RV_NAME(CKR_SESSION_HANDLE_INVALID),
    RV_NAME(CKR_TOKEN_NOT_PRESENT),
    RV_NAME(CKR_TOKEN_NOT_RECOGNIZED),
    RV_NAME(CKR_USER_ALREADY_LOGGED_IN),
    RV_NAME(CKR_USER_NOT_LOGGED_IN),
    RV_NAME(CKR_USER_PIN_NOT_INITIALIZED),
    RV_NAME(CKR_BUFFER_TOO_SMALL),
    RV_NAME(CKR_CRYPTOKI_NOT_INITIALIZED),
    RV_NAME(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};

static const char *rv_name(CK_RV rv) {
  for (size_t i = 0; i < sizeof rv_names / sizeof rv_names[0]; i++) {
    if (rv_names[i].rv == rv) return rv_names[i].name;
  }
  return rv >= CKR_VENDOR_DEFINED ? "vendor-defined" : "unknown";
}

static void report_rv(const char *function, CK_RV rv, const char *context) {
  fprintf(stderr, "gcm-loop: %s failed with rv 0x%08lx (%s)%s%s\n", function, rv,
          rv_name(rv), context[0] != '\0' ? " " : "", context);
}

// Closes all sessions, destroys the keys this program created and finalizes
// the module. Continues after a failed call and returns 0 if any call failed.
static int release_all(void) {
  int ok = 1;
  CK_RV rv;

  for (unsigned i = 0; i < MAX_THREADS; i++) {
    if (workers[i].session == CK_INVALID_HANDLE) continue;
    rv = p11->C_CloseSession(workers[i].session);
    if (rv != CKR_OK) {
      report_rv("C_CloseSession", rv, "for a worker session");
      ok = 0;
    }
    workers[i].session = CK_INVALID_HANDLE;
  }

  for (unsigned i = 0; i < token_count; i++) {
    Token *token = &tokens[i];
    if (token->session_key != CK_INVALID_HANDLE) {
      rv = p11->C_DestroyObject(token->anchor, token->session_key);
      if (rv != CKR_OK) {
        report_rv("C_DestroyObject", rv, "for the session copy of the key");
        ok = 0;
      }
      token->session_key = CK_INVALID_HANDLE;
    }
    if (token->token_key != CK_INVALID_HANDLE) {
      rv = p11->C_DestroyObject(token->anchor, token->token_key);
      if (rv != CKR_OK) {
        fprintf(stderr, "gcm-loop: the benchmark key stays on token \"%s\"\n", token->label);
        report_rv("C_DestroyObject", rv, "for the token key");
        ok = 0;
      }
      token->token_key = CK_INVALID_HANDLE;
    }
    if (token->anchor != CK_INVALID_HANDLE) {
      rv = p11->C_CloseSession(token->anchor);
      if (rv != CKR_OK) {
        report_rv("C_CloseSession", rv, "for an anchor session");
        ok = 0;
      }
      token->anchor = CK_INVALID_HANDLE;
    }
  }

  if (module_initialized) {
    rv = p11->C_Finalize(NULL);
    if (rv != CKR_OK) {
      report_rv("C_Finalize", rv, "");
      ok = 0;
    }
    module_initialized = 0;
  }
  if (module_handle != NULL) {
    dlclose(module_handle);
    module_handle = NULL;
  }
  return ok;
}

// Prints the message, releases everything and exits with status 1.
static _Noreturn void fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("gcm-loop: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  release_all();
  exit(1);
}

static _Noreturn void fail_rv(const char *function, CK_RV rv, const char *context) {
  report_rv(function, rv, context);
  release_all();
  exit(1);
}

static void check_rv(const char *function, CK_RV rv, const char *context) {
  if (rv != CKR_OK) fail_rv(function, rv, context);
}

// ---------------------------------------------------------------------------
// Command line

static _Noreturn void usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void usage_error(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("gcm-loop: ", stderr);
  vfprintf(stderr, format, args);
  fputs("\nRun gcm-loop --help for the options.\n", stderr);
  va_end(args);
  exit(2);
}

static void print_help(void) {
  printf(
      "Usage: " PIN_ENVIRONMENT_VARIABLE "=PIN gcm-loop --module PATH (--token LABEL | --tokens L1,L2,...) [options]\n"
      "\n"
      "Measures AES-256-GCM operations per second through a PKCS#11 module.\n"
      "The user PIN is read from the environment variable " PIN_ENVIRONMENT_VARIABLE ".\n"
      "\n"
      "  --module PATH          PKCS#11 module (shared library) to load\n"
      "  --token LABEL          token that all threads use\n"
      "  --tokens L1,L2,...     one token per thread; sets the thread count\n"
      "  --op encrypt|decrypt   operation to measure (default encrypt)\n"
      "  --key token|session    token key, or a session-object copy of it (default token)\n"
      "  --bytes N              plaintext size in bytes (default 32)\n"
      "  --threads N            threads, each with its own session (default 1, max %d)\n"
      "  --runs R               number of runs; the median is reported (default 7, max %d)\n"
      "  --seconds S            duration of one run in seconds, fractions allowed (default 1)\n",
      MAX_THREADS, MAX_RUNS);
}

static unsigned long parse_unsigned(const char *option, const char *text, unsigned long min,
                                    unsigned long max) {
  char *end = NULL;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || value < min || value > max) {
    usage_error("invalid %s \"%s\": expected an integer from %lu to %lu", option, text, min, max);
  }
  return value;
}

static void add_label(const char *option, const char *label) {
  size_t length = strlen(label);
  if (length == 0 || length > TOKEN_LABEL_BYTES) {
    usage_error("invalid %s label \"%s\": a token label has 1 to %d bytes", option, label,
                TOKEN_LABEL_BYTES);
  }
  if (options.label_count == MAX_THREADS) {
    usage_error("too many labels in %s: at most %d", option, MAX_THREADS);
  }
  options.labels[options.label_count++] = label;
}

static void parse_options(int argc, char **argv) {
  options.op = OP_ENCRYPT;
  options.key_kind = KEY_TOKEN;
  options.payload_bytes = 32;
  options.runs = 7;
  options.seconds = 1.0;
  unsigned threads = 0;
  int have_token = 0;

  for (int i = 1; i < argc; i++) {
    const char *name = argv[i];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
      print_help();
      exit(0);
    }
    if (i + 1 >= argc) usage_error("missing value for %s", name);
    const char *value = argv[++i];

    if (strcmp(name, "--module") == 0) {
      options.module_path = value;
    } else if (strcmp(name, "--token") == 0 || strcmp(name, "--tokens") == 0) {
      if (have_token) usage_error("give one --token or one --tokens option");
      have_token = 1;
      if (strcmp(name, "--token") == 0) {
        add_label(name, value);
      } else {
        options.one_token_per_thread = 1;
        // Labels are split in place, which is safe because argv lives until exit.
        char *list = argv[i];
        for (char *start = list;;) {
          char *comma = strchr(start, ',');
          if (comma != NULL) *comma = '\0';
          add_label(name, start);
          if (comma == NULL) break;
          start = comma + 1;
        }
      }
    } else if (strcmp(name, "--op") == 0) {
      if (strcmp(value, "encrypt") == 0) {
        options.op = OP_ENCRYPT;
      } else if (strcmp(value, "decrypt") == 0) {
        options.op = OP_DECRYPT;
      } else {
        usage_error("invalid --op \"%s\": expected encrypt or decrypt", value);
      }
    } else if (strcmp(name, "--key") == 0) {
      if (strcmp(value, "token") == 0) {
        options.key_kind = KEY_TOKEN;
      } else if (strcmp(value, "session") == 0) {
        options.key_kind = KEY_SESSION;
      } else {
        usage_error("invalid --key \"%s\": expected token or session", value);
      }
    } else if (strcmp(name, "--bytes") == 0) {
      // The upper bound leaves room for the tag in a CK_ULONG length.
      options.payload_bytes = parse_unsigned(name, value, 1, ULONG_MAX - TAG_BYTES);
    } else if (strcmp(name, "--threads") == 0) {
      threads = (unsigned)parse_unsigned(name, value, 1, MAX_THREADS);
    } else if (strcmp(name, "--runs") == 0) {
      options.runs = (unsigned)parse_unsigned(name, value, 1, MAX_RUNS);
    } else if (strcmp(name, "--seconds") == 0) {
      char *end = NULL;
      errno = 0;
      double seconds = strtod(value, &end);
      if (end == value || *end != '\0' || errno != 0 || !isfinite(seconds) || seconds <= 0.0 ||
          seconds > MAX_SECONDS) {
        usage_error("invalid --seconds \"%s\": expected a number greater than 0 and at most %g",
                    value, MAX_SECONDS);
      }
      options.seconds = seconds;
    } else {
      usage_error("unknown option %s", name);
    }
  }

  if (options.module_path == NULL) usage_error("missing --module PATH");
  if (!have_token) usage_error("missing --token LABEL or --tokens L1,L2,...");
  if (options.one_token_per_thread) {
    if (threads != 0 && threads != options.label_count) {
      usage_error("--threads %u does not match the %u labels of --tokens", threads,
                  options.label_count);
    }
    options.threads = options.label_count;
  } else {
    options.threads = threads != 0 ? threads : 1;
  }
}

// ---------------------------------------------------------------------------
// Module, slots and keys

static double monotonic_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void sleep_milliseconds(long milliseconds) {
  struct timespec delay = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
  while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
  }
}

static void load_module(void) {
  module_handle = dlopen(options.module_path, RTLD_NOW | RTLD_LOCAL);
  if (module_handle == NULL) fail("cannot load the PKCS#11 module: %s", dlerror());

  void *symbol = dlsym(module_handle, "C_GetFunctionList");
  if (symbol == NULL) {
    fail("%s is not a PKCS#11 module: C_GetFunctionList not found", options.module_path);
  }
  // ISO C has no conversion from void * to a function pointer. POSIX
  // guarantees that their representations match, so the bits are copied.
  CK_C_GetFunctionList get_function_list;
  memcpy(&get_function_list, &symbol, sizeof get_function_list);
  check_rv("C_GetFunctionList", get_function_list(&p11), "");
}

static void initialize_module(void) {
  // NULL mutex callbacks with CKF_OS_LOCKING_OK: the module uses its own
  // native locks, so sessions can be used from several threads.
  CK_C_INITIALIZE_ARGS init_args = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
  check_rv("C_Initialize", p11->C_Initialize(&init_args), "");
  module_initialized = 1;
}

static int label_matches(const CK_UTF8CHAR field[TOKEN_LABEL_BYTES], const char *label) {
  size_t length = strlen(label);
  if (memcmp(field, label, length) != 0) return 0;
  for (size_t i = length; i < TOKEN_LABEL_BYTES; i++) {
    if (field[i] != ' ') return 0;
  }
  return 1;
}

// Fills tokens[] with the slot of every distinct requested label. Returns the
// first label that no slot has, or NULL when all were found. A slot whose
// C_GetTokenInfo fails is skipped and the rv is stored in *token_info_rv.
// SoftHSM 2.6.1 returned CKR_GENERAL_ERROR there when several processes
// started at once on one token directory, and a rescan succeeded.
static const char *scan_slots(CK_RV *token_info_rv) {
  CK_SLOT_ID *slots = NULL;
  CK_ULONG slot_count = 0;
  CK_RV rv;
  for (;;) {
    rv = p11->C_GetSlotList(CK_TRUE, NULL, &slot_count);
    check_rv("C_GetSlotList", rv, "");
    free(slots);
    slots = malloc((slot_count > 0 ? slot_count : 1) * sizeof *slots);
    if (slots == NULL) fail("out of memory for %lu slots", slot_count);
    rv = p11->C_GetSlotList(CK_TRUE, slots, &slot_count);
    // A token that appears between the two calls makes the list longer.
    if (rv != CKR_BUFFER_TOO_SMALL) break;
  }
  if (rv != CKR_OK) {
    free(slots);
    fail_rv("C_GetSlotList", rv, "");
  }

  token_count = 0;
  *token_info_rv = CKR_OK;
  const char *missing = NULL;
  for (unsigned l = 0; l < options.label_count && missing == NULL; l++) {
    const char *label = options.labels[l];
    int found = 0;
    for (unsigned t = 0; t < token_count && !found; t++) found = strcmp(tokens[t].label, label) == 0;
    if (found) continue;

    for (CK_ULONG s = 0; s < slot_count && !found; s++) {
      CK_TOKEN_INFO info;
      rv = p11->C_GetTokenInfo(slots[s], &info);
      if (rv != CKR_OK) {
        *token_info_rv = rv;
        continue;
      }
      if (label_matches(info.label, label)) {
        tokens[token_count].label = label;
        tokens[token_count].slot = slots[s];
        token_count++;
        found = 1;
      }
    }
    if (!found) missing = label;
  }
  free(slots);
  return missing;
}

// Initializes the module and finds the slot of every requested token.
//
// SoftHSM 2.6 reads the token directory once, at C_Initialize. When another
// process writes to the same directory at that moment, a token can be missing
// from the slot list or fail C_GetTokenInfo. In that case this function calls
// C_Finalize and C_Initialize again, up to LABEL_RESCANS times.
static void find_token_slots(void) {
  for (unsigned attempt = 0;; attempt++) {
    initialize_module();
    CK_RV token_info_rv;
    const char *missing = scan_slots(&token_info_rv);
    if (missing == NULL) return;
    if (attempt == LABEL_RESCANS) {
      if (token_info_rv != CKR_OK) {
        char context[96];
        snprintf(context, sizeof context, "while looking for the token labeled \"%s\"", missing);
        fail_rv("C_GetTokenInfo", token_info_rv, context);
      }
      fail("no slot has a token labeled \"%s\" (scanned %d times); check the label and the "
           "module's configuration (SOFTHSM2_CONF for SoftHSM2)",
           missing, LABEL_RESCANS + 1);
    }
    fprintf(stderr, "gcm-loop: token \"%s\" not found in scan %u of %d, rescanning\n", missing,
            attempt + 1, LABEL_RESCANS + 1);
    check_rv("C_Finalize", p11->C_Finalize(NULL), "before rescanning the slots");
    module_initialized = 0;
    sleep_milliseconds(LABEL_RESCAN_DELAY_MS);
  }
}

static void open_anchor_and_login(Token *token, const char *pin) {
  check_rv("C_OpenSession",
           p11->C_OpenSession(token->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                              &token->anchor),
           "for the anchor session");

  CK_RV rv = p11->C_Login(token->anchor, CKU_USER, (CK_UTF8CHAR *)pin, (CK_ULONG)strlen(pin));
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) fail_rv("C_Login", rv, "as CKU_USER");
}

static void generate_key(Token *token, unsigned token_index) {
  // Each key gets a unique CKA_ID, so that the keys of concurrent benchmark
  // processes on one token stay distinguishable.
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char id[64];
  int id_length = snprintf(id, sizeof id, "gcm-loop-%ld-%lld.%09ld-%u", (long)getpid(),
                           (long long)now.tv_sec, now.tv_nsec, token_index);
  static char label[] = "hsm-kms gcm-loop benchmark key";

  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ULONG key_bytes = KEY_BYTES;
  CK_ATTRIBUTE template[] = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no},
      {CKA_ENCRYPT, &yes, sizeof yes},
      {CKA_DECRYPT, &yes, sizeof yes},
      {CKA_VALUE_LEN, &key_bytes, sizeof key_bytes},
      {CKA_ID, id, (CK_ULONG)id_length},
      {CKA_LABEL, label, sizeof label - 1},
  };
  CK_MECHANISM mechanism = {CKM_AES_KEY_GEN, NULL, 0};
  check_rv("C_GenerateKey",
           p11->C_GenerateKey(token->anchor, &mechanism, template,
                              sizeof template / sizeof template[0], &token->token_key),
           "for the AES-256 token key");

  if (options.key_kind == KEY_SESSION) {
    // The copy keeps CKA_SENSITIVE true and CKA_EXTRACTABLE false. It belongs
    // to the anchor session and is visible to every session of this process.
    CK_ATTRIBUTE copy_template[] = {{CKA_TOKEN, &no, sizeof no}};
    check_rv("C_CopyObject",
             p11->C_CopyObject(token->anchor, token->token_key, copy_template, 1,
                               &token->session_key),
             "for the session copy of the key");
  }
}

// ---------------------------------------------------------------------------
// Workers

static void store_big_endian(CK_BYTE *destination, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; i++) {
    destination[bytes - 1 - i] = (CK_BYTE)(value >> (8 * i));
  }
}

// Runs one single-part GCM operation. Returns 0 and records the failed call
// in the worker when a call fails.
static int run_operation(Worker *worker) {
  CK_RV rv;
  CK_ULONG output_len = worker->output_capacity;

  if (options.op == OP_ENCRYPT) {
    // An IV must never repeat under one key, so the counter gives every call
    // its own IV.
    store_big_endian(worker->iv + 4, worker->iv_counter++, 8);
    rv = p11->C_EncryptInit(worker->session, &worker->mechanism, worker->key);
    if (rv != CKR_OK) {
      worker->failed_function = "C_EncryptInit";
      worker->failed_rv = rv;
      return 0;
    }
    rv = p11->C_Encrypt(worker->session, worker->input, worker->input_len, worker->output,
                        &output_len);
    if (rv != CKR_OK) {
      worker->failed_function = "C_Encrypt";
      worker->failed_rv = rv;
      return 0;
    }
  } else {
    rv = p11->C_DecryptInit(worker->session, &worker->mechanism, worker->key);
    if (rv != CKR_OK) {
      worker->failed_function = "C_DecryptInit";
      worker->failed_rv = rv;
      return 0;
    }
    rv = p11->C_Decrypt(worker->session, worker->input, worker->input_len, worker->output,
                        &output_len);
    if (rv != CKR_OK) {
      worker->failed_function = "C_Decrypt";
      worker->failed_rv = rv;
      return 0;
    }
  }
  return 1;
}

static void *run_worker(void *argument) {
  Worker *worker = argument;

  pthread_mutex_lock(&gate_mutex);
  while (gate_state == GATE_CLOSED) pthread_cond_wait(&gate_cond, &gate_mutex);
  GateState state = gate_state;
  pthread_mutex_unlock(&gate_mutex);
  if (state == GATE_ABORTED) return NULL;

  // The clock is read after every operation. On Linux, clock_gettime is a
  // vDSO call that costs far less than one PKCS#11 operation.
  double start = monotonic_seconds();
  double deadline = start + options.seconds;
  double now = start;
  uint64_t operations = 0;
  while (now < deadline && atomic_load(&stop_signal) == 0) {
    if (!run_operation(worker)) break;
    operations++;
    now = monotonic_seconds();
  }
  worker->operations = operations;
  worker->elapsed_seconds = now - start;
  return NULL;
}

static void allocate_buffers(Worker *worker) {
  CK_ULONG bytes = options.payload_bytes;
  CK_BYTE *plaintext = malloc(bytes);
  worker->output_capacity = bytes + TAG_BYTES;
  worker->output = malloc(worker->output_capacity);
  if (plaintext == NULL || worker->output == NULL) {
    fail("out of memory for buffers of %lu bytes", bytes + TAG_BYTES);
  }
  for (CK_ULONG i = 0; i < bytes; i++) plaintext[i] = (CK_BYTE)(i * 7 + worker->index);
  worker->input = plaintext;
  worker->input_len = bytes;
}

// For decryption: replaces the worker's plaintext input with its ciphertext
// and checks once that decryption returns the plaintext.
static void prepare_decryption(Worker *worker) {
  CK_ULONG bytes = options.payload_bytes;
  CK_BYTE *plaintext = worker->input;
  CK_BYTE *ciphertext = malloc(bytes + TAG_BYTES);
  if (ciphertext == NULL) fail("out of memory for a ciphertext of %lu bytes", bytes + TAG_BYTES);

  CK_ULONG ciphertext_len = bytes + TAG_BYTES;
  check_rv("C_EncryptInit", p11->C_EncryptInit(worker->session, &worker->mechanism, worker->key),
           "while preparing the ciphertext");
  check_rv("C_Encrypt",
           p11->C_Encrypt(worker->session, plaintext, bytes, ciphertext, &ciphertext_len),
           "while preparing the ciphertext");
  if (ciphertext_len != bytes + TAG_BYTES) {
    fail("C_Encrypt returned %lu bytes, expected %lu (plaintext and a %d-byte tag)",
         ciphertext_len, bytes + TAG_BYTES, TAG_BYTES);
  }

  worker->input = ciphertext;
  worker->input_len = ciphertext_len;
  if (!run_operation(worker)) {
    fail_rv(worker->failed_function, worker->failed_rv, "while checking the ciphertext");
  }
  if (memcmp(worker->output, plaintext, bytes) != 0) {
    fail("C_Decrypt returned data that differs from the plaintext");
  }
  free(plaintext);
}

static void prepare_worker(Worker *worker, unsigned index, const Token *token) {
  worker->index = index;
  check_rv("C_OpenSession",
           p11->C_OpenSession(token->slot, CKF_SERIAL_SESSION, NULL, NULL, &worker->session),
           "for a worker session");
  worker->key = options.key_kind == KEY_SESSION ? token->session_key : token->token_key;

  store_big_endian(worker->iv, index, 4);
  worker->gcm.pIv = worker->iv;
  worker->gcm.ulIvLen = IV_BYTES;
  worker->gcm.ulIvBits = IV_BYTES * 8;
  worker->gcm.pAAD = aad;
  worker->gcm.ulAADLen = AAD_BYTES;
  worker->gcm.ulTagBits = TAG_BYTES * 8;
  worker->mechanism.mechanism = CKM_AES_GCM;
  worker->mechanism.pParameter = &worker->gcm;
  worker->mechanism.ulParameterLen = sizeof worker->gcm;

  allocate_buffers(worker);
  if (options.op == OP_DECRYPT) prepare_decryption(worker);
}

static void set_gate(GateState state) {
  pthread_mutex_lock(&gate_mutex);
  gate_state = state;
  pthread_cond_broadcast(&gate_cond);
  pthread_mutex_unlock(&gate_mutex);
}

// Runs all workers for one run and returns their summed rate in ops/s.
static double measure_run(void) {
  pthread_t threads[MAX_THREADS];
  unsigned started = 0;
  set_gate(GATE_CLOSED);
  for (; started < options.threads; started++) {
    int error = pthread_create(&threads[started], NULL, run_worker, &workers[started]);
    if (error != 0) {
      set_gate(GATE_ABORTED);
      for (unsigned i = 0; i < started; i++) pthread_join(threads[i], NULL);
      fail("pthread_create failed for thread %u: %s", started, strerror(error));
    }
  }
  set_gate(GATE_OPEN);
  for (unsigned i = 0; i < started; i++) {
    int error = pthread_join(threads[i], NULL);
    if (error != 0) fail("pthread_join failed for thread %u: %s", i, strerror(error));
  }

  double rate = 0.0;
  for (unsigned i = 0; i < options.threads; i++) {
    const Worker *worker = &workers[i];
    if (worker->failed_function != NULL) {
      char context[48];
      snprintf(context, sizeof context, "in thread %u", i);
      fail_rv(worker->failed_function, worker->failed_rv, context);
    }
    rate += (double)worker->operations / worker->elapsed_seconds;
  }
  return rate;
}

static void handle_stop_signal(int signal_number) {
  atomic_store(&stop_signal, signal_number);
}

static void install_stop_handlers(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = handle_stop_signal;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGINT, &action, NULL) != 0 || sigaction(SIGTERM, &action, NULL) != 0) {
    fail("sigaction failed: %s", strerror(errno));
  }
}

static void stop_if_signaled(void) {
  int signal_number = atomic_load(&stop_signal);
  if (signal_number != 0) fail("stopped by signal %d (%s)", signal_number, strsignal(signal_number));
}

static int compare_doubles(const void *left, const void *right) {
  double a = *(const double *)left;
  double b = *(const double *)right;
  return (a > b) - (a < b);
}

static double median(const double *values, unsigned count) {
  double sorted[MAX_RUNS];
  memcpy(sorted, values, count * sizeof *values);
  qsort(sorted, count, sizeof *sorted, compare_doubles);
  return count % 2 == 1 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2.0;
}

// ---------------------------------------------------------------------------

int main(int argc, char **argv) {
  parse_options(argc, argv);
  const char *pin = getenv(PIN_ENVIRONMENT_VARIABLE);
  if (pin == NULL || pin[0] == '\0') {
    usage_error("the environment variable %s is not set: set it to the user PIN of the token",
                PIN_ENVIRONMENT_VARIABLE);
  }
  for (unsigned i = 0; i < AAD_BYTES; i++) aad[i] = (CK_BYTE)(0xA0 + i);
  install_stop_handlers();

  load_module();
  find_token_slots();
  for (unsigned t = 0; t < token_count; t++) {
    open_anchor_and_login(&tokens[t], pin);
    generate_key(&tokens[t], t);
  }

  for (unsigned i = 0; i < options.threads; i++) {
    const char *label = options.labels[options.one_token_per_thread ? i : 0];
    const Token *token = NULL;
    for (unsigned t = 0; t < token_count && token == NULL; t++) {
      if (strcmp(tokens[t].label, label) == 0) token = &tokens[t];
    }
    prepare_worker(&workers[i], i, token);
  }

  double rates[MAX_RUNS];
  for (unsigned run = 0; run < options.runs; run++) {
    stop_if_signaled();
    rates[run] = measure_run();
  }
  stop_if_signaled();

  if (!release_all()) return 1;

  printf("{\"op\":\"%s\",\"key\":\"%s\",\"bytes\":%lu,\"threads\":%u,\"tokens\":%u,"
         "\"seconds\":%g,\"runs\":[",
         options.op == OP_ENCRYPT ? "encrypt" : "decrypt",
         options.key_kind == KEY_TOKEN ? "token" : "session", options.payload_bytes,
         options.threads, token_count, options.seconds);
  for (unsigned run = 0; run < options.runs; run++) {
    printf("%s%.1f", run == 0 ? "" : ",", rates[run]);
  }
  printf("],\"median\":%.1f}\n", median(rates, options.runs));
  return fflush(stdout) == 0 ? 0 : 1;
}
