// Layout of the control file of the fault-injection PKCS#11 module
// (fault_pkcs11.c). A test writes the file with test/helpers/fault-control.ts
// and the module maps it read-only, so a change applies to the next call.
//
// All integers are little-endian uint32. The file is a header followed by
// FAULT_CONTROL_MAX_TOKENS entries, each describing the faults of one token:
//
//   offset  size  field
//        0     4  magic             FAULT_CONTROL_MAGIC
//        4     4  version           FAULT_CONTROL_VERSION
//        8     4  entry_count       FAULT_CONTROL_MAX_TOKENS
//       12     4  entry_size        sizeof(struct fault_control_entry) = 336
//       16  5376  entries[16]       entry i starts at 16 + 336 * i
//
// Entry (offsets inside the entry):
//
//        0     4  sequence          even when stable, odd while being written
//        4     4  mode              enum fault_mode
//        8     4  latency_us        delay before each intercepted call
//       12     4  hidden_count      used elements of the two arrays below
//       16    32  token_label       space- or NUL-padded; all NUL = unused
//       48    32  hidden_id_lengths[8]
//       80   256  hidden_ids[8][32] CKA_ID values, each padded to 32 bytes
//
// The writer (one process) updates an entry as a seqlock: it writes an odd
// sequence, then bytes 4..335, then the next even sequence, each with its own
// write(2). A reader copies the entry and uses the copy only if it read the
// same even sequence before and after.
#ifndef HSM_KMS_FAULT_CONTROL_H_
#define HSM_KMS_FAULT_CONTROL_H_

#include <stddef.h>
#include <stdint.h>

#define FAULT_CONTROL_MAGIC 0x31504B46u  // the bytes "FKP1" on disk
#define FAULT_CONTROL_VERSION 1u
#define FAULT_CONTROL_MAX_TOKENS 16
#define FAULT_CONTROL_LABEL_BYTES 32
#define FAULT_CONTROL_MAX_HIDDEN 8
#define FAULT_CONTROL_ID_BYTES 32

// What the module does to the calls of a token. The numbers are part of the
// file format.
enum fault_mode {
  FAULT_MODE_NONE = 0,
  FAULT_MODE_DEVICE_REMOVED = 1,          // CKR_DEVICE_REMOVED
  FAULT_MODE_DEVICE_ERROR = 2,            // CKR_DEVICE_ERROR
  FAULT_MODE_SESSION_HANDLE_INVALID = 3,  // CKR_SESSION_HANDLE_INVALID
  FAULT_MODE_TOKEN_NOT_PRESENT = 4,       // CKR_TOKEN_NOT_PRESENT
};

struct fault_control_entry {
  uint32_t sequence;
  uint32_t mode;
  uint32_t latency_us;
  uint32_t hidden_count;
  char token_label[FAULT_CONTROL_LABEL_BYTES];
  uint32_t hidden_id_lengths[FAULT_CONTROL_MAX_HIDDEN];
  uint8_t hidden_ids[FAULT_CONTROL_MAX_HIDDEN][FAULT_CONTROL_ID_BYTES];
};

struct fault_control_file {
  uint32_t magic;
  uint32_t version;
  uint32_t entry_count;
  uint32_t entry_size;
  struct fault_control_entry entries[FAULT_CONTROL_MAX_TOKENS];
};

// The offsets above are the contract with the TypeScript writer.
_Static_assert(offsetof(struct fault_control_entry, token_label) == 16,
               "token_label offset");
_Static_assert(offsetof(struct fault_control_entry, hidden_id_lengths) == 48,
               "hidden_id_lengths offset");
_Static_assert(offsetof(struct fault_control_entry, hidden_ids) == 80,
               "hidden_ids offset");
_Static_assert(sizeof(struct fault_control_entry) == 336, "entry size");
_Static_assert(offsetof(struct fault_control_file, entries) == 16,
               "entries offset");
_Static_assert(sizeof(struct fault_control_file) == 16 + 16 * 336,
               "file size");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the control file is little-endian");

#endif  // HSM_KMS_FAULT_CONTROL_H_
