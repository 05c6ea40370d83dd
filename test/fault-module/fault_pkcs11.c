// A PKCS#11 module for tests that forwards every call to a real module
// (SoftHSM2 by default) and, on command from the test, makes the calls of
// chosen tokens fail, slow down or miss key objects.
//
// The fault_pkcs11 target of binding.gyp builds it as
// build/Release/fault_pkcs11.so. Two environment variables,
// read when C_GetFunctionList is first called, configure it:
//   FAULT_PKCS11_TARGET   path of the real module; default
//                         /usr/lib/softhsm/libsofthsm2.so
//   FAULT_PKCS11_CONTROL  path of the control file (fault_control.h) that
//                         test/helpers/fault-control.ts writes. When unset,
//                         the module injects no faults.
//
// The function list is a copy of the real module's, with these entries
// replaced:
// - Session functions sleep for the token's latency. Then, in any mode but
//   none, they return the mode's error without calling the real module, on
//   every call until the test clears the mode. These functions are
//   C_GetSessionInfo, C_Login, C_Logout, C_CreateObject, C_CopyObject,
//   C_DestroyObject, C_GetAttributeValue, C_FindObjectsInit, C_FindObjects,
//   C_FindObjectsFinal, C_EncryptInit, C_Encrypt, C_DecryptInit, C_Decrypt,
//   C_GenerateKey, C_WrapKey, C_UnwrapKey and C_GenerateRandom.
// - C_OpenSession does the same for its slot, except in mode
//   session-handle-invalid, which fails calls on sessions only.
// - In mode token-not-present, C_GetSlotList(tokenPresent = CK_TRUE) omits
//   the token's slot, C_GetSlotInfo clears its CKF_TOKEN_PRESENT flag and
//   C_GetTokenInfo returns CKR_TOKEN_NOT_PRESENT.
// - An object whose CKA_ID is hidden acts as if it did not exist: a search
//   whose template has that CKA_ID finds nothing, and the functions above
//   that take its handle return the handle-invalid code of that argument
//   (CKR_KEY_HANDLE_INVALID from C_EncryptInit and C_DecryptInit,
//   CKR_OBJECT_HANDLE_INVALID from C_CopyObject, and so on).
// - C_CloseSession, C_CloseAllSessions, C_Initialize and C_Finalize are never
//   faulted, so the real module always releases its sessions.
// Faults never apply to the other entries (C_InitToken, C_SetAttributeValue,
// C_EncryptUpdate and the rest), which are the real module's functions.
//
// NOTE: a search without a hidden CKA_ID in its template, such as one for
// every secret key, still finds hidden objects.
//
// A call belongs to the token whose label the real C_GetTokenInfo reports for
// the call's slot, or for the slot its session was opened on.
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fault_control.h"
#include "pkcs11_api.h"

// Return values that pkcs11_api.h does not define, from PKCS#11 v2.40.
#define CKR_HOST_MEMORY 0x00000002UL
#define CKR_UNWRAPPING_KEY_HANDLE_INVALID 0x000000F0UL
#define CKR_WRAPPING_KEY_HANDLE_INVALID 0x00000113UL

#define DEFAULT_TARGET "/usr/lib/softhsm/libsofthsm2.so"
#define LABEL_BYTES 32

// Capacity of the session and slot tables. The module rejects C_OpenSession
// with CKR_SESSION_COUNT once MAX_SESSIONS sessions are open.
#define MAX_SESSIONS 1024
#define MAX_SLOTS 64

// Attempts to read a control entry while the writer changes it. After that
// many the entry is skipped, because a writer that died mid-update leaves its
// sequence odd for good.
#define MAX_SNAPSHOT_ATTEMPTS 1000

// The function list must have the 68 entries of PKCS#11 v2.40, because the
// whole real table is copied into it.
_Static_assert(sizeof(CK_FUNCTION_LIST) ==
                   offsetof(CK_FUNCTION_LIST, C_Initialize) +
                       68 * sizeof(CK_UNUSED_FUNCTION),
               "CK_FUNCTION_LIST has 68 entries");

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR* list)
    __attribute__((visibility("default")));

struct session_record {
  bool in_use;
  CK_SESSION_HANDLE handle;
  CK_SLOT_ID slot;
  // The active search has a hidden CKA_ID in its template.
  bool search_hidden;
};

struct slot_record {
  bool in_use;
  CK_SLOT_ID slot;
  CK_UTF8CHAR label[LABEL_BYTES];
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_RV load_result = CKR_GENERAL_ERROR;
static void* real_library;
static CK_FUNCTION_LIST* real;
static CK_FUNCTION_LIST fault_functions;
// The mapped control file, or NULL when FAULT_PKCS11_CONTROL is unset.
static const struct fault_control_file* control;

// Guards the session and slot tables.
static pthread_mutex_t tables_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct session_record sessions[MAX_SESSIONS];
static struct slot_record slots[MAX_SLOTS];

static int unknown_mode_reported;

// ---------------------------------------------------------------------------
// Session and slot tables

// Locking a default mutex fails only if it is corrupt, and the tables cannot
// be trusted after that.
static void lock_tables(void) {
  int error = pthread_mutex_lock(&tables_mutex);
  if (error != 0) {
    fprintf(stderr, "fault_pkcs11: pthread_mutex_lock failed: %s\n",
            strerror(error));
    abort();
  }
}

static void unlock_tables(void) {
  int error = pthread_mutex_unlock(&tables_mutex);
  if (error != 0) {
    fprintf(stderr, "fault_pkcs11: pthread_mutex_unlock failed: %s\n",
            strerror(error));
    abort();
  }
}

// Callers hold tables_mutex.
static struct session_record* find_session_locked(CK_SESSION_HANDLE handle) {
  for (size_t i = 0; i < MAX_SESSIONS; ++i) {
    if (sessions[i].in_use && sessions[i].handle == handle) {
      return &sessions[i];
    }
  }
  return NULL;
}

// Records that `handle` belongs to `slot`. Returns false when the table is
// full.
static bool remember_session(CK_SESSION_HANDLE handle, CK_SLOT_ID slot) {
  lock_tables();
  // A record left by a session that the real module ended without our
  // knowledge (C_Finalize by another library) is overwritten.
  struct session_record* record = find_session_locked(handle);
  for (size_t i = 0; record == NULL && i < MAX_SESSIONS; ++i) {
    if (!sessions[i].in_use) record = &sessions[i];
  }
  if (record != NULL) {
    record->in_use = true;
    record->handle = handle;
    record->slot = slot;
    record->search_hidden = false;
  }
  unlock_tables();
  return record != NULL;
}

// Removes the record of `handle` and returns its slot in `slot`. Returns
// false when the session is unknown.
static bool take_session(CK_SESSION_HANDLE handle, CK_SLOT_ID* slot) {
  lock_tables();
  struct session_record* record = find_session_locked(handle);
  if (record != NULL) {
    *slot = record->slot;
    record->in_use = false;
  }
  unlock_tables();
  return record != NULL;
}

static void forget_slot_sessions(CK_SLOT_ID slot) {
  lock_tables();
  for (size_t i = 0; i < MAX_SESSIONS; ++i) {
    if (sessions[i].in_use && sessions[i].slot == slot) {
      sessions[i].in_use = false;
    }
  }
  unlock_tables();
}

// Forgets every session and slot label. After C_Finalize the real module may
// number its slots differently.
static void forget_all(void) {
  lock_tables();
  memset(sessions, 0, sizeof(sessions));
  memset(slots, 0, sizeof(slots));
  unlock_tables();
}

static bool session_slot(CK_SESSION_HANDLE handle, CK_SLOT_ID* slot) {
  lock_tables();
  struct session_record* record = find_session_locked(handle);
  if (record != NULL) *slot = record->slot;
  unlock_tables();
  return record != NULL;
}

static void set_search_hidden(CK_SESSION_HANDLE handle, bool hidden) {
  lock_tables();
  struct session_record* record = find_session_locked(handle);
  if (record != NULL) record->search_hidden = hidden;
  unlock_tables();
}

static bool is_search_hidden(CK_SESSION_HANDLE handle) {
  lock_tables();
  struct session_record* record = find_session_locked(handle);
  bool hidden = record != NULL && record->search_hidden;
  unlock_tables();
  return hidden;
}

// Caches the label of the token in `slot`. When the cache is full the label
// is not cached, and slot_label queries the real module on every call.
static void remember_slot_label(CK_SLOT_ID slot,
                                const CK_UTF8CHAR label[LABEL_BYTES]) {
  lock_tables();
  struct slot_record* record = NULL;
  for (size_t i = 0; record == NULL && i < MAX_SLOTS; ++i) {
    if (slots[i].in_use && slots[i].slot == slot) record = &slots[i];
  }
  for (size_t i = 0; record == NULL && i < MAX_SLOTS; ++i) {
    if (!slots[i].in_use) record = &slots[i];
  }
  if (record != NULL) {
    record->in_use = true;
    record->slot = slot;
    memcpy(record->label, label, LABEL_BYTES);
  }
  unlock_tables();
}

// Copies the label of the token in `slot` into `label`, from the cache or
// from the real C_GetTokenInfo. Returns false when the real module fails.
// NOTE: a token initialized again in the same slot through this module's
// C_InitToken keeps its old label here until the next C_GetTokenInfo call.
static bool slot_label(CK_SLOT_ID slot, CK_UTF8CHAR label[LABEL_BYTES]) {
  bool cached = false;
  lock_tables();
  for (size_t i = 0; !cached && i < MAX_SLOTS; ++i) {
    if (slots[i].in_use && slots[i].slot == slot) {
      memcpy(label, slots[i].label, LABEL_BYTES);
      cached = true;
    }
  }
  unlock_tables();
  if (cached) return true;

  // Called without the lock, so that other threads never wait for the real
  // module.
  CK_TOKEN_INFO info;
  if (real->C_GetTokenInfo(slot, &info) != CKR_OK) return false;
  remember_slot_label(slot, info.label);
  memcpy(label, info.label, LABEL_BYTES);
  return true;
}

// ---------------------------------------------------------------------------
// Control file

// Length of a label without the spaces and NULs that pad it.
static size_t trimmed_length(const void* label, size_t size) {
  const unsigned char* bytes = label;
  while (size > 0 && (bytes[size - 1] == ' ' || bytes[size - 1] == '\0')) {
    --size;
  }
  return size;
}

// Copies a consistent version of `entry` into `copy`, following the seqlock
// protocol of fault_control.h. Returns false when every attempt overlapped a
// write.
static bool snapshot_entry(const struct fault_control_entry* entry,
                           struct fault_control_entry* copy) {
  for (int attempt = 0; attempt < MAX_SNAPSHOT_ATTEMPTS; ++attempt) {
    uint32_t before = __atomic_load_n(&entry->sequence, __ATOMIC_ACQUIRE);
    if ((before & 1u) == 0) {
      memcpy(copy, entry, sizeof(*copy));
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      uint32_t after = __atomic_load_n(&entry->sequence, __ATOMIC_RELAXED);
      if (after == before) {
        if (copy->hidden_count > FAULT_CONTROL_MAX_HIDDEN) {
          copy->hidden_count = FAULT_CONTROL_MAX_HIDDEN;
        }
        return true;
      }
    }
    // On Linux sched_yield always succeeds (sched_yield(2)).
    (void)sched_yield();
  }
  return false;
}

// Copies the control entry of the token labelled `label` into `faults`.
// Returns false when no entry names the token or there is no control file.
static bool token_faults(const CK_UTF8CHAR label[LABEL_BYTES],
                         struct fault_control_entry* faults) {
  if (control == NULL) return false;
  size_t label_length = trimmed_length(label, LABEL_BYTES);
  if (label_length == 0) return false;  // an uninitialized token

  for (size_t i = 0; i < FAULT_CONTROL_MAX_TOKENS; ++i) {
    struct fault_control_entry copy;
    if (!snapshot_entry(&control->entries[i], &copy)) continue;
    size_t length = trimmed_length(copy.token_label, LABEL_BYTES);
    if (length == label_length &&
        memcmp(copy.token_label, label, length) == 0) {
      *faults = copy;
      return true;
    }
  }
  return false;
}

static bool slot_faults(CK_SLOT_ID slot, struct fault_control_entry* faults) {
  if (control == NULL) return false;
  CK_UTF8CHAR label[LABEL_BYTES];
  return slot_label(slot, label) && token_faults(label, faults);
}

static bool is_token_absent(CK_SLOT_ID slot) {
  struct fault_control_entry faults;
  return slot_faults(slot, &faults) &&
         faults.mode == FAULT_MODE_TOKEN_NOT_PRESENT;
}

static bool is_hidden_id(const struct fault_control_entry* faults,
                         const void* id, CK_ULONG length) {
  for (uint32_t i = 0; i < faults->hidden_count; ++i) {
    if (faults->hidden_id_lengths[i] == length &&
        length <= FAULT_CONTROL_ID_BYTES &&
        memcmp(faults->hidden_ids[i], id, length) == 0) {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Fault injection

static void sleep_microseconds(uint32_t microseconds) {
  struct timespec remaining = {
      .tv_sec = microseconds / 1000000u,
      .tv_nsec = (long)(microseconds % 1000000u) * 1000L,
  };
  // A signal interrupts nanosleep, which then stores the time still to wait.
  while (nanosleep(&remaining, &remaining) != 0) {
    if (errno != EINTR) {
      fprintf(stderr, "fault_pkcs11: nanosleep failed: %s\n", strerror(errno));
      return;
    }
  }
}

// Sleeps for the token's latency, then returns the error that its mode
// injects, or CKR_OK to forward the call. `on_session` is true for calls that
// take a session handle.
static CK_RV inject(const struct fault_control_entry* faults, bool on_session) {
  if (faults->latency_us > 0) sleep_microseconds(faults->latency_us);
  switch (faults->mode) {
    case FAULT_MODE_NONE:
      return CKR_OK;
    case FAULT_MODE_DEVICE_REMOVED:
      return CKR_DEVICE_REMOVED;
    case FAULT_MODE_DEVICE_ERROR:
      return CKR_DEVICE_ERROR;
    case FAULT_MODE_SESSION_HANDLE_INVALID:
      return on_session ? CKR_SESSION_HANDLE_INVALID : CKR_OK;
    case FAULT_MODE_TOKEN_NOT_PRESENT:
      return CKR_TOKEN_NOT_PRESENT;
    default:
      if (__atomic_exchange_n(&unknown_mode_reported, 1, __ATOMIC_RELAXED) ==
          0) {
        fprintf(stderr,
                "fault_pkcs11: unknown fault mode %u in the control file. "
                "Calls of that token fail with CKR_GENERAL_ERROR until the "
                "test writes a mode of fault_control.h\n",
                faults->mode);
      }
      return CKR_GENERAL_ERROR;
  }
}

// Applies the faults of the session's token. `faults` receives the token's
// control entry, or zeros when there is none.
static CK_RV enter_session_call(CK_SESSION_HANDLE session,
                                struct fault_control_entry* faults) {
  memset(faults, 0, sizeof(*faults));
  CK_SLOT_ID slot;
  if (control == NULL || !session_slot(session, &slot)) return CKR_OK;
  if (!slot_faults(slot, faults)) return CKR_OK;
  return inject(faults, true);
}

// Returns whether the CKA_ID of `object` is hidden. An object whose CKA_ID
// cannot be read into FAULT_CONTROL_ID_BYTES bytes is not hidden, and the
// forwarded call then reports any problem with the handle.
static bool is_object_hidden(CK_SESSION_HANDLE session,
                             CK_OBJECT_HANDLE object,
                             const struct fault_control_entry* faults) {
  if (faults->hidden_count == 0) return false;
  uint8_t id[FAULT_CONTROL_ID_BYTES];
  CK_ATTRIBUTE attribute = {CKA_ID, id, sizeof(id)};
  CK_RV rv = real->C_GetAttributeValue(session, object, &attribute, 1);
  return rv == CKR_OK && is_hidden_id(faults, id, attribute.ulValueLen);
}

static bool template_has_hidden_id(const CK_ATTRIBUTE* templ, CK_ULONG count,
                                   const struct fault_control_entry* faults) {
  if (faults->hidden_count == 0 || templ == NULL) return false;
  for (CK_ULONG i = 0; i < count; ++i) {
    if (templ[i].type == CKA_ID && templ[i].pValue != NULL &&
        is_hidden_id(faults, templ[i].pValue, templ[i].ulValueLen)) {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// General-purpose and slot functions

static CK_RV fault_Initialize(CK_VOID_PTR init_args) {
  return real->C_Initialize(init_args);
}

static CK_RV fault_Finalize(CK_VOID_PTR reserved) {
  CK_RV rv = real->C_Finalize(reserved);
  if (rv == CKR_OK) forget_all();
  return rv;
}

// Reads the real list of slots with a token into a new array, which the
// caller frees.
static CK_RV read_present_slots(CK_SLOT_ID** list, CK_ULONG* count) {
  // The list can grow between the size query and the read, when a token
  // appears, and the real module then returns CKR_BUFFER_TOO_SMALL.
  for (int attempt = 0; attempt < 3; ++attempt) {
    CK_ULONG size = 0;
    CK_RV rv = real->C_GetSlotList(CK_TRUE, NULL, &size);
    if (rv != CKR_OK) return rv;
    // malloc(0) may return NULL, so the array has at least one element.
    CK_SLOT_ID* buffer = malloc((size > 0 ? size : 1) * sizeof(CK_SLOT_ID));
    if (buffer == NULL) return CKR_HOST_MEMORY;
    rv = real->C_GetSlotList(CK_TRUE, buffer, &size);
    if (rv == CKR_OK) {
      *list = buffer;
      *count = size;
      return CKR_OK;
    }
    free(buffer);
    if (rv != CKR_BUFFER_TOO_SMALL) return rv;
  }
  return CKR_FUNCTION_FAILED;
}

static CK_RV fault_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID* list,
                               CK_ULONG* count) {
  if (token_present == CK_FALSE || control == NULL) {
    return real->C_GetSlotList(token_present, list, count);
  }
  if (count == NULL) return CKR_ARGUMENTS_BAD;

  CK_SLOT_ID* present = NULL;
  CK_ULONG present_count = 0;
  CK_RV rv = read_present_slots(&present, &present_count);
  if (rv != CKR_OK) return rv;

  CK_ULONG visible_count = 0;
  for (CK_ULONG i = 0; i < present_count; ++i) {
    if (!is_token_absent(present[i])) present[visible_count++] = present[i];
  }
  // The two-call convention of PKCS#11: a NULL list requests the count, and
  // a short list gets CKR_BUFFER_TOO_SMALL with the count needed.
  if (list != NULL && *count < visible_count) {
    rv = CKR_BUFFER_TOO_SMALL;
  } else if (list != NULL && visible_count > 0) {
    memcpy(list, present, visible_count * sizeof(CK_SLOT_ID));
  }
  *count = visible_count;
  free(present);
  return rv;
}

static CK_RV fault_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO* info) {
  CK_RV rv = real->C_GetSlotInfo(slot, info);
  if (rv == CKR_OK && control != NULL && is_token_absent(slot)) {
    info->flags &= ~CKF_TOKEN_PRESENT;
  }
  return rv;
}

static CK_RV fault_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO* info) {
  CK_RV rv = real->C_GetTokenInfo(slot, info);
  if (rv != CKR_OK) return rv;
  // Every successful call refreshes the cache, which follows a token that
  // was initialized again under a new label.
  remember_slot_label(slot, info->label);
  struct fault_control_entry faults;
  if (token_faults(info->label, &faults) &&
      faults.mode == FAULT_MODE_TOKEN_NOT_PRESENT) {
    return CKR_TOKEN_NOT_PRESENT;
  }
  return CKR_OK;
}

// ---------------------------------------------------------------------------
// Session management

static CK_RV fault_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags,
                               CK_VOID_PTR application, CK_VOID_PTR notify,
                               CK_SESSION_HANDLE* session) {
  struct fault_control_entry faults;
  if (slot_faults(slot, &faults)) {
    CK_RV injected = inject(&faults, false);
    if (injected != CKR_OK) return injected;
  }

  CK_RV rv = real->C_OpenSession(slot, flags, application, notify, session);
  if (rv != CKR_OK) return rv;
  if (!remember_session(*session, slot)) {
    // An untracked session would escape every fault, so it is not handed out.
    CK_RV close_rv = real->C_CloseSession(*session);
    if (close_rv != CKR_OK) {
      fprintf(stderr,
              "fault_pkcs11: C_CloseSession of an untracked session failed "
              "with 0x%lX\n",
              close_rv);
    }
    *session = CK_INVALID_HANDLE;
    return CKR_SESSION_COUNT;
  }
  return CKR_OK;
}

static CK_RV fault_CloseSession(CK_SESSION_HANDLE session) {
  // The record goes before the real session does: once the real module has
  // closed the handle, another thread can receive the same number from
  // C_OpenSession and record it.
  CK_SLOT_ID slot;
  bool known = take_session(session, &slot);
  CK_RV rv = real->C_CloseSession(session);
  bool still_open = rv != CKR_OK && rv != CKR_SESSION_HANDLE_INVALID &&
                    rv != CKR_SESSION_CLOSED;
  if (known && still_open && !remember_session(session, slot)) {
    fprintf(stderr,
            "fault_pkcs11: session table full; session %lu is no longer "
            "faulted\n",
            session);
  }
  return rv;
}

static CK_RV fault_CloseAllSessions(CK_SLOT_ID slot) {
  forget_slot_sessions(slot);
  return real->C_CloseAllSessions(slot);
}

static CK_RV fault_GetSessionInfo(CK_SESSION_HANDLE session,
                                  CK_SESSION_INFO* info) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  return real->C_GetSessionInfo(session, info);
}

static CK_RV fault_Login(CK_SESSION_HANDLE session, CK_USER_TYPE user_type,
                         CK_UTF8CHAR* pin, CK_ULONG pin_len) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  return real->C_Login(session, user_type, pin, pin_len);
}

static CK_RV fault_Logout(CK_SESSION_HANDLE session) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  return real->C_Logout(session);
}

// ---------------------------------------------------------------------------
// Objects

static CK_RV fault_CreateObject(CK_SESSION_HANDLE session, CK_ATTRIBUTE* templ,
                                CK_ULONG count, CK_OBJECT_HANDLE* object) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  return real->C_CreateObject(session, templ, count, object);
}

static CK_RV fault_CopyObject(CK_SESSION_HANDLE session,
                              CK_OBJECT_HANDLE object, CK_ATTRIBUTE* templ,
                              CK_ULONG count, CK_OBJECT_HANDLE* new_object) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  // C_CopyObject reports a handle that names no object with
  // CKR_OBJECT_HANDLE_INVALID. CKR_KEY_HANDLE_INVALID is not among its codes.
  if (is_object_hidden(session, object, &faults)) {
    return CKR_OBJECT_HANDLE_INVALID;
  }
  return real->C_CopyObject(session, object, templ, count, new_object);
}

static CK_RV fault_DestroyObject(CK_SESSION_HANDLE session,
                                 CK_OBJECT_HANDLE object) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  if (is_object_hidden(session, object, &faults)) {
    return CKR_OBJECT_HANDLE_INVALID;
  }
  return real->C_DestroyObject(session, object);
}

static CK_RV fault_GetAttributeValue(CK_SESSION_HANDLE session,
                                     CK_OBJECT_HANDLE object,
                                     CK_ATTRIBUTE* templ, CK_ULONG count) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  if (is_object_hidden(session, object, &faults)) {
    return CKR_OBJECT_HANDLE_INVALID;
  }
  return real->C_GetAttributeValue(session, object, templ, count);
}

// The real search always starts, so that C_FindObjectsFinal and
// CKR_OPERATION_ACTIVE behave as usual. A search for a hidden CKA_ID is
// marked, and C_FindObjects then returns no objects for it.
static CK_RV fault_FindObjectsInit(CK_SESSION_HANDLE session,
                                   CK_ATTRIBUTE* templ, CK_ULONG count) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  rv = real->C_FindObjectsInit(session, templ, count);
  if (rv == CKR_OK) {
    set_search_hidden(session, template_has_hidden_id(templ, count, &faults));
  }
  return rv;
}

static CK_RV fault_FindObjects(CK_SESSION_HANDLE session,
                               CK_OBJECT_HANDLE* objects, CK_ULONG max_count,
                               CK_ULONG* count) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  if (is_search_hidden(session)) {
    if (count == NULL) return CKR_ARGUMENTS_BAD;
    *count = 0;
    return CKR_OK;
  }
  return real->C_FindObjects(session, objects, max_count, count);
}

static CK_RV fault_FindObjectsFinal(CK_SESSION_HANDLE session) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  rv = real->C_FindObjectsFinal(session);
  if (rv == CKR_OK) set_search_hidden(session, false);
  return rv;
}

// ---------------------------------------------------------------------------
// Encryption, keys and random numbers

static CK_RV fault_EncryptInit(CK_SESSION_HANDLE session,
                               CK_MECHANISM* mechanism, CK_OBJECT_HANDLE key) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  if (is_object_hidden(session, key, &faults)) return CKR_KEY_HANDLE_INVALID;
  return real->C_EncryptInit(session, mechanism, key);
}

static CK_RV fault_Encrypt(CK_SESSION_HANDLE session, CK_BYTE* data,
                           CK_ULONG data_len, CK_BYTE* encrypted,
                           CK_ULONG* encrypted_len) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  return real->C_Encrypt(session, data, data_len, encrypted, encrypted_len);
}

static CK_RV fault_DecryptInit(CK_SESSION_HANDLE session,
                               CK_MECHANISM* mechanism, CK_OBJECT_HANDLE key) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  if (is_object_hidden(session, key, &faults)) return CKR_KEY_HANDLE_INVALID;
  return real->C_DecryptInit(session, mechanism, key);
}

static CK_RV fault_Decrypt(CK_SESSION_HANDLE session, CK_BYTE* encrypted,
                           CK_ULONG encrypted_len, CK_BYTE* data,
                           CK_ULONG* data_len) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  return real->C_Decrypt(session, encrypted, encrypted_len, data, data_len);
}

static CK_RV fault_GenerateKey(CK_SESSION_HANDLE session,
                               CK_MECHANISM* mechanism, CK_ATTRIBUTE* templ,
                               CK_ULONG count, CK_OBJECT_HANDLE* key) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  return real->C_GenerateKey(session, mechanism, templ, count, key);
}

static CK_RV fault_WrapKey(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism,
                           CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
                           CK_BYTE* wrapped_key, CK_ULONG* wrapped_key_len) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  if (is_object_hidden(session, wrapping_key, &faults)) {
    return CKR_WRAPPING_KEY_HANDLE_INVALID;
  }
  if (is_object_hidden(session, key, &faults)) return CKR_KEY_HANDLE_INVALID;
  return real->C_WrapKey(session, mechanism, wrapping_key, key, wrapped_key,
                         wrapped_key_len);
}

static CK_RV fault_UnwrapKey(CK_SESSION_HANDLE session,
                             CK_MECHANISM* mechanism,
                             CK_OBJECT_HANDLE unwrapping_key,
                             CK_BYTE* wrapped_key, CK_ULONG wrapped_key_len,
                             CK_ATTRIBUTE* templ, CK_ULONG attribute_count,
                             CK_OBJECT_HANDLE* key) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  if (is_object_hidden(session, unwrapping_key, &faults)) {
    return CKR_UNWRAPPING_KEY_HANDLE_INVALID;
  }
  return real->C_UnwrapKey(session, mechanism, unwrapping_key, wrapped_key,
                           wrapped_key_len, templ, attribute_count, key);
}

static CK_RV fault_GenerateRandom(CK_SESSION_HANDLE session,
                                  CK_BYTE* random_data, CK_ULONG random_len) {
  struct fault_control_entry faults;
  CK_RV rv = enter_session_call(session, &faults);
  if (rv != CKR_OK) return rv;
  return real->C_GenerateRandom(session, random_data, random_len);
}

// ---------------------------------------------------------------------------
// Loading and unloading

static CK_RV load_real_module(void) {
  const char* path = getenv("FAULT_PKCS11_TARGET");
  if (path == NULL || path[0] == '\0') path = DEFAULT_TARGET;

  real_library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (real_library == NULL) {
    const char* reason = dlerror();
    fprintf(stderr,
            "fault_pkcs11: cannot load the PKCS#11 module %s (%s). Set "
            "FAULT_PKCS11_TARGET to the module to forward to\n",
            path, reason != NULL ? reason : "unknown dlopen error");
    return CKR_GENERAL_ERROR;
  }

  void* symbol = dlsym(real_library, "C_GetFunctionList");
  if (symbol == NULL) {
    fprintf(stderr,
            "fault_pkcs11: %s exports no C_GetFunctionList, so it is not a "
            "PKCS#11 module\n",
            path);
    return CKR_GENERAL_ERROR;
  }
  // ISO C has no conversion from an object pointer to a function pointer;
  // POSIX guarantees that copying the bytes works.
  CK_C_GetFunctionList get_function_list;
  memcpy(&get_function_list, &symbol, sizeof(get_function_list));
  if (get_function_list == C_GetFunctionList) {
    fprintf(stderr,
            "fault_pkcs11: FAULT_PKCS11_TARGET %s is the fault module "
            "itself\n",
            path);
    return CKR_GENERAL_ERROR;
  }

  CK_RV rv = get_function_list(&real);
  if (rv != CKR_OK || real == NULL) {
    fprintf(stderr,
            "fault_pkcs11: C_GetFunctionList of %s failed with 0x%lX\n", path,
            rv);
    real = NULL;
    return rv != CKR_OK ? rv : CKR_GENERAL_ERROR;
  }
  return CKR_OK;
}

// Builds fault_functions: the real table, with the intercepted entries
// replaced.
static void build_function_list(void) {
  fault_functions = *real;
  fault_functions.C_Initialize = fault_Initialize;
  fault_functions.C_Finalize = fault_Finalize;
  fault_functions.C_GetFunctionList = C_GetFunctionList;
  fault_functions.C_GetSlotList = fault_GetSlotList;
  fault_functions.C_GetSlotInfo = fault_GetSlotInfo;
  fault_functions.C_GetTokenInfo = fault_GetTokenInfo;
  fault_functions.C_OpenSession = fault_OpenSession;
  fault_functions.C_CloseSession = fault_CloseSession;
  fault_functions.C_CloseAllSessions = fault_CloseAllSessions;
  fault_functions.C_GetSessionInfo = fault_GetSessionInfo;
  fault_functions.C_Login = fault_Login;
  fault_functions.C_Logout = fault_Logout;
  fault_functions.C_CreateObject = fault_CreateObject;
  fault_functions.C_CopyObject = fault_CopyObject;
  fault_functions.C_DestroyObject = fault_DestroyObject;
  fault_functions.C_GetAttributeValue = fault_GetAttributeValue;
  fault_functions.C_FindObjectsInit = fault_FindObjectsInit;
  fault_functions.C_FindObjects = fault_FindObjects;
  fault_functions.C_FindObjectsFinal = fault_FindObjectsFinal;
  fault_functions.C_EncryptInit = fault_EncryptInit;
  fault_functions.C_Encrypt = fault_Encrypt;
  fault_functions.C_DecryptInit = fault_DecryptInit;
  fault_functions.C_Decrypt = fault_Decrypt;
  fault_functions.C_GenerateKey = fault_GenerateKey;
  fault_functions.C_WrapKey = fault_WrapKey;
  fault_functions.C_UnwrapKey = fault_UnwrapKey;
  fault_functions.C_GenerateRandom = fault_GenerateRandom;
}

// Maps the control file named by FAULT_PKCS11_CONTROL, if any.
static CK_RV map_control_file(void) {
  const char* path = getenv("FAULT_PKCS11_CONTROL");
  if (path == NULL || path[0] == '\0') return CKR_OK;

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr,
            "fault_pkcs11: cannot open the control file %s: %s. Create it "
            "with FaultControl.create before the module is loaded\n",
            path, strerror(errno));
    return CKR_GENERAL_ERROR;
  }
  struct stat status;
  if (fstat(fd, &status) != 0) {
    fprintf(stderr, "fault_pkcs11: fstat of the control file %s failed: %s\n",
            path, strerror(errno));
    (void)close(fd);  // the fstat error is the one reported
    return CKR_GENERAL_ERROR;
  }
  if (status.st_size < (off_t)sizeof(struct fault_control_file)) {
    fprintf(stderr,
            "fault_pkcs11: the control file %s has %lld bytes, fewer than "
            "the %zu of fault_control.h. Create it with FaultControl.create\n",
            path, (long long)status.st_size, sizeof(struct fault_control_file));
    (void)close(fd);  // the size error is the one reported
    return CKR_GENERAL_ERROR;
  }

  // MAP_SHARED makes every write(2) to the file visible in the mapping at
  // once, also when another process writes.
  void* mapping = mmap(NULL, sizeof(struct fault_control_file), PROT_READ,
                       MAP_SHARED, fd, 0);
  int mmap_errno = errno;
  // The mapping keeps its own reference to the file.
  if (close(fd) != 0) {
    fprintf(stderr, "fault_pkcs11: close of the control file %s failed: %s\n",
            path, strerror(errno));
  }
  if (mapping == MAP_FAILED) {
    fprintf(stderr, "fault_pkcs11: mmap of the control file %s failed: %s\n",
            path, strerror(mmap_errno));
    return CKR_GENERAL_ERROR;
  }

  const struct fault_control_file* file = mapping;
  if (file->magic != FAULT_CONTROL_MAGIC ||
      file->version != FAULT_CONTROL_VERSION ||
      file->entry_count != FAULT_CONTROL_MAX_TOKENS ||
      file->entry_size != sizeof(struct fault_control_entry)) {
    fprintf(stderr,
            "fault_pkcs11: %s is not a control file of version %u (magic "
            "0x%X, version %u, %u entries of %u bytes). Create it with "
            "FaultControl.create\n",
            path, FAULT_CONTROL_VERSION, file->magic, file->version,
            file->entry_count, file->entry_size);
    if (munmap(mapping, sizeof(struct fault_control_file)) != 0) {
      fprintf(stderr, "fault_pkcs11: munmap failed: %s\n", strerror(errno));
    }
    return CKR_GENERAL_ERROR;
  }
  control = file;
  return CKR_OK;
}

static void unload(void) {
  if (control != NULL) {
    if (munmap((void*)control, sizeof(struct fault_control_file)) != 0) {
      fprintf(stderr, "fault_pkcs11: munmap failed: %s\n", strerror(errno));
    }
    control = NULL;
  }
  real = NULL;
  if (real_library != NULL) {
    if (dlclose(real_library) != 0) {
      const char* reason = dlerror();
      fprintf(stderr, "fault_pkcs11: dlclose of the real module failed: %s\n",
              reason != NULL ? reason : "unknown dlclose error");
    }
    real_library = NULL;
  }
}

static void load(void) {
  load_result = load_real_module();
  if (load_result == CKR_OK) load_result = map_control_file();
  if (load_result == CKR_OK) {
    build_function_list();
  } else {
    unload();
  }
}

// Runs when the process exits or the last dlclose unloads this library.
__attribute__((destructor)) static void unload_at_exit(void) { unload(); }

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR* list) {
  if (list == NULL) return CKR_ARGUMENTS_BAD;
  int error = pthread_once(&load_once, load);
  if (error != 0) {
    fprintf(stderr, "fault_pkcs11: pthread_once failed: %s\n",
            strerror(error));
    return CKR_GENERAL_ERROR;
  }
  if (load_result != CKR_OK) return load_result;
  *list = &fault_functions;
  return CKR_OK;
}
