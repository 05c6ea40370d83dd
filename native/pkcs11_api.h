// The subset of the PKCS#11 (Cryptoki) interface that hsm-kms uses: types,
// constants and the function table, with the layouts of the OASIS v2.40
// errata 01 headers. Valid as C and C++ so the benchmark loop can share it.
//
// Only Linux and macOS layouts are declared: CK_ULONG is `unsigned long`
// (64 bits on LP64) and structs use natural alignment. Windows modules pack
// structs to 1 byte and would need `#pragma pack(push, cryptoki, 1)` here.
#ifndef HSM_KMS_PKCS11_API_H_
#define HSM_KMS_PKCS11_API_H_

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned char CK_BYTE;
typedef unsigned char CK_UTF8CHAR;
typedef unsigned char CK_BBOOL;
typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_ULONG CK_OBJECT_CLASS;
typedef CK_ULONG CK_KEY_TYPE;
typedef CK_ULONG CK_ATTRIBUTE_TYPE;
typedef CK_ULONG CK_MECHANISM_TYPE;
typedef CK_ULONG CK_USER_TYPE;
typedef CK_ULONG CK_STATE;
typedef void* CK_VOID_PTR;

#define CK_TRUE 1
#define CK_FALSE 0
#define CK_INVALID_HANDLE 0UL
#define CK_UNAVAILABLE_INFORMATION (~0UL)

typedef struct CK_VERSION {
  CK_BYTE major;
  CK_BYTE minor;
} CK_VERSION;

typedef struct CK_INFO {
  CK_VERSION cryptokiVersion;
  CK_UTF8CHAR manufacturerID[32];
  CK_FLAGS flags;
  CK_UTF8CHAR libraryDescription[32];
  CK_VERSION libraryVersion;
} CK_INFO;

typedef struct CK_SLOT_INFO {
  CK_UTF8CHAR slotDescription[64];
  CK_UTF8CHAR manufacturerID[32];
  CK_FLAGS flags;
  CK_VERSION hardwareVersion;
  CK_VERSION firmwareVersion;
} CK_SLOT_INFO;

typedef struct CK_TOKEN_INFO {
  CK_UTF8CHAR label[32];
  CK_UTF8CHAR manufacturerID[32];
  CK_UTF8CHAR model[16];
  CK_BYTE serialNumber[16];
  CK_FLAGS flags;
  CK_ULONG ulMaxSessionCount;
  CK_ULONG ulSessionCount;
  CK_ULONG ulMaxRwSessionCount;
  CK_ULONG ulRwSessionCount;
  CK_ULONG ulMaxPinLen;
  CK_ULONG ulMinPinLen;
  CK_ULONG ulTotalPublicMemory;
  CK_ULONG ulFreePublicMemory;
  CK_ULONG ulTotalPrivateMemory;
  CK_ULONG ulFreePrivateMemory;
  CK_VERSION hardwareVersion;
  CK_VERSION firmwareVersion;
  CK_BYTE utcTime[16];
} CK_TOKEN_INFO;

typedef struct CK_SESSION_INFO {
  CK_SLOT_ID slotID;
  CK_STATE state;
  CK_FLAGS flags;
  CK_ULONG ulDeviceError;
} CK_SESSION_INFO;

typedef struct CK_ATTRIBUTE {
  CK_ATTRIBUTE_TYPE type;
  CK_VOID_PTR pValue;
  CK_ULONG ulValueLen;
} CK_ATTRIBUTE;

typedef struct CK_MECHANISM {
  CK_MECHANISM_TYPE mechanism;
  CK_VOID_PTR pParameter;
  CK_ULONG ulParameterLen;
} CK_MECHANISM;

// The six-field layout of the v2.40 errata 01 and v3.x headers. Modules
// differ on ulIvBits (SoftHSM 2.6 ignores it, some Luna firmware fails
// decryption without it), so callers always set it to 8 * ulIvLen.
typedef struct CK_GCM_PARAMS {
  CK_BYTE* pIv;
  CK_ULONG ulIvLen;
  CK_ULONG ulIvBits;
  CK_BYTE* pAAD;
  CK_ULONG ulAADLen;
  CK_ULONG ulTagBits;
} CK_GCM_PARAMS;

typedef CK_RV (*CK_CREATEMUTEX)(CK_VOID_PTR* mutex);
typedef CK_RV (*CK_DESTROYMUTEX)(CK_VOID_PTR mutex);
typedef CK_RV (*CK_LOCKMUTEX)(CK_VOID_PTR mutex);
typedef CK_RV (*CK_UNLOCKMUTEX)(CK_VOID_PTR mutex);

typedef struct CK_C_INITIALIZE_ARGS {
  CK_CREATEMUTEX CreateMutex;
  CK_DESTROYMUTEX DestroyMutex;
  CK_LOCKMUTEX LockMutex;
  CK_UNLOCKMUTEX UnlockMutex;
  CK_FLAGS flags;
  CK_VOID_PTR pReserved;
} CK_C_INITIALIZE_ARGS;

// Entries that hsm-kms never calls keep their place in the table as untyped
// pointers, so the struct layout matches the module's.
typedef void (*CK_UNUSED_FUNCTION)(void);
struct CK_FUNCTION_LIST;
typedef struct CK_FUNCTION_LIST* CK_FUNCTION_LIST_PTR;

typedef struct CK_FUNCTION_LIST {
  CK_VERSION version;
  CK_RV (*C_Initialize)(CK_VOID_PTR init_args);
  CK_RV (*C_Finalize)(CK_VOID_PTR reserved);
  CK_RV (*C_GetInfo)(CK_INFO* info);
  CK_RV (*C_GetFunctionList)(CK_FUNCTION_LIST_PTR* list);
  CK_RV (*C_GetSlotList)(CK_BBOOL token_present, CK_SLOT_ID* slots,
                         CK_ULONG* count);
  CK_RV (*C_GetSlotInfo)(CK_SLOT_ID slot, CK_SLOT_INFO* info);
  CK_RV (*C_GetTokenInfo)(CK_SLOT_ID slot, CK_TOKEN_INFO* info);
  CK_UNUSED_FUNCTION C_GetMechanismList;
  CK_UNUSED_FUNCTION C_GetMechanismInfo;
  CK_UNUSED_FUNCTION C_InitToken;
  CK_UNUSED_FUNCTION C_InitPIN;
  CK_UNUSED_FUNCTION C_SetPIN;
  CK_RV (*C_OpenSession)(CK_SLOT_ID slot, CK_FLAGS flags,
                         CK_VOID_PTR application, CK_VOID_PTR notify,
                         CK_SESSION_HANDLE* session);
  CK_RV (*C_CloseSession)(CK_SESSION_HANDLE session);
  CK_RV (*C_CloseAllSessions)(CK_SLOT_ID slot);
  CK_RV (*C_GetSessionInfo)(CK_SESSION_HANDLE session, CK_SESSION_INFO* info);
  CK_UNUSED_FUNCTION C_GetOperationState;
  CK_UNUSED_FUNCTION C_SetOperationState;
  CK_RV (*C_Login)(CK_SESSION_HANDLE session, CK_USER_TYPE user_type,
                   CK_UTF8CHAR* pin, CK_ULONG pin_len);
  CK_RV (*C_Logout)(CK_SESSION_HANDLE session);
  CK_RV (*C_CreateObject)(CK_SESSION_HANDLE session, CK_ATTRIBUTE* templ,
                          CK_ULONG count, CK_OBJECT_HANDLE* object);
  CK_RV (*C_CopyObject)(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                        CK_ATTRIBUTE* templ, CK_ULONG count,
                        CK_OBJECT_HANDLE* new_object);
  CK_RV (*C_DestroyObject)(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object);
  CK_UNUSED_FUNCTION C_GetObjectSize;
  CK_RV (*C_GetAttributeValue)(CK_SESSION_HANDLE session,
                               CK_OBJECT_HANDLE object, CK_ATTRIBUTE* templ,
                               CK_ULONG count);
  CK_UNUSED_FUNCTION C_SetAttributeValue;
  CK_RV (*C_FindObjectsInit)(CK_SESSION_HANDLE session, CK_ATTRIBUTE* templ,
                             CK_ULONG count);
  CK_RV (*C_FindObjects)(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE* objects,
                         CK_ULONG max_count, CK_ULONG* count);
  CK_RV (*C_FindObjectsFinal)(CK_SESSION_HANDLE session);
  CK_RV (*C_EncryptInit)(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism,
                         CK_OBJECT_HANDLE key);
  CK_RV (*C_Encrypt)(CK_SESSION_HANDLE session, CK_BYTE* data,
                     CK_ULONG data_len, CK_BYTE* encrypted,
                     CK_ULONG* encrypted_len);
  CK_UNUSED_FUNCTION C_EncryptUpdate;
  CK_UNUSED_FUNCTION C_EncryptFinal;
  CK_RV (*C_DecryptInit)(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism,
                         CK_OBJECT_HANDLE key);
  CK_RV (*C_Decrypt)(CK_SESSION_HANDLE session, CK_BYTE* encrypted,
                     CK_ULONG encrypted_len, CK_BYTE* data,
                     CK_ULONG* data_len);
  CK_UNUSED_FUNCTION C_DecryptUpdate;
  CK_UNUSED_FUNCTION C_DecryptFinal;
  CK_UNUSED_FUNCTION C_DigestInit;
  CK_UNUSED_FUNCTION C_Digest;
  CK_UNUSED_FUNCTION C_DigestUpdate;
  CK_UNUSED_FUNCTION C_DigestKey;
  CK_UNUSED_FUNCTION C_DigestFinal;
  CK_UNUSED_FUNCTION C_SignInit;
  CK_UNUSED_FUNCTION C_Sign;
  CK_UNUSED_FUNCTION C_SignUpdate;
  CK_UNUSED_FUNCTION C_SignFinal;
  CK_UNUSED_FUNCTION C_SignRecoverInit;
  CK_UNUSED_FUNCTION C_SignRecover;
  CK_UNUSED_FUNCTION C_VerifyInit;
  CK_UNUSED_FUNCTION C_Verify;
  CK_UNUSED_FUNCTION C_VerifyUpdate;
  CK_UNUSED_FUNCTION C_VerifyFinal;
  CK_UNUSED_FUNCTION C_VerifyRecoverInit;
  CK_UNUSED_FUNCTION C_VerifyRecover;
  CK_UNUSED_FUNCTION C_DigestEncryptUpdate;
  CK_UNUSED_FUNCTION C_DecryptDigestUpdate;
  CK_UNUSED_FUNCTION C_SignEncryptUpdate;
  CK_UNUSED_FUNCTION C_DecryptVerifyUpdate;
  CK_RV (*C_GenerateKey)(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism,
                         CK_ATTRIBUTE* templ, CK_ULONG count,
                         CK_OBJECT_HANDLE* key);
  CK_UNUSED_FUNCTION C_GenerateKeyPair;
  CK_RV (*C_WrapKey)(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism,
                     CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
                     CK_BYTE* wrapped_key, CK_ULONG* wrapped_key_len);
  CK_RV (*C_UnwrapKey)(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism,
                       CK_OBJECT_HANDLE unwrapping_key, CK_BYTE* wrapped_key,
                       CK_ULONG wrapped_key_len, CK_ATTRIBUTE* templ,
                       CK_ULONG attribute_count, CK_OBJECT_HANDLE* key);
  CK_UNUSED_FUNCTION C_DeriveKey;
  CK_UNUSED_FUNCTION C_SeedRandom;
  CK_RV (*C_GenerateRandom)(CK_SESSION_HANDLE session, CK_BYTE* random_data,
                            CK_ULONG random_len);
  CK_UNUSED_FUNCTION C_GetFunctionStatus;
  CK_UNUSED_FUNCTION C_CancelFunction;
  CK_UNUSED_FUNCTION C_WaitForSlotEvent;
} CK_FUNCTION_LIST;

typedef CK_RV (*CK_C_GetFunctionList)(CK_FUNCTION_LIST_PTR* list);

// Flags.
#define CKF_TOKEN_PRESENT 0x00000001UL
#define CKF_RW_SESSION 0x00000002UL
#define CKF_SERIAL_SESSION 0x00000004UL
#define CKF_OS_LOCKING_OK 0x00000002UL
#define CKF_USER_PIN_INITIALIZED 0x00000008UL
#define CKF_TOKEN_INITIALIZED 0x00000400UL
#define CKF_USER_PIN_LOCKED 0x00040000UL

// User types.
#define CKU_SO 0UL
#define CKU_USER 1UL

// Object classes and key types.
#define CKO_SECRET_KEY 0x00000004UL
#define CKK_AES 0x0000001FUL

// Mechanisms.
#define CKM_AES_KEY_GEN 0x00001080UL
#define CKM_AES_GCM 0x00001087UL
#define CKM_AES_KEY_WRAP 0x00002109UL
#define CKM_AES_KEY_WRAP_PAD 0x0000210AUL

// Attributes.
#define CKA_CLASS 0x00000000UL
#define CKA_TOKEN 0x00000001UL
#define CKA_PRIVATE 0x00000002UL
#define CKA_LABEL 0x00000003UL
#define CKA_VALUE 0x00000011UL
#define CKA_TRUSTED 0x00000086UL
#define CKA_CHECK_VALUE 0x00000090UL
#define CKA_KEY_TYPE 0x00000100UL
#define CKA_ID 0x00000102UL
#define CKA_SENSITIVE 0x00000103UL
#define CKA_ENCRYPT 0x00000104UL
#define CKA_DECRYPT 0x00000105UL
#define CKA_WRAP 0x00000106UL
#define CKA_UNWRAP 0x00000107UL
#define CKA_SIGN 0x00000108UL
#define CKA_VERIFY 0x0000010AUL
#define CKA_DERIVE 0x0000010CUL
#define CKA_VALUE_LEN 0x00000161UL
#define CKA_EXTRACTABLE 0x00000162UL
#define CKA_LOCAL 0x00000163UL
#define CKA_NEVER_EXTRACTABLE 0x00000164UL
#define CKA_ALWAYS_SENSITIVE 0x00000165UL
#define CKA_MODIFIABLE 0x00000170UL
#define CKA_COPYABLE 0x00000171UL
#define CKA_DESTROYABLE 0x00000172UL
#define CKA_WRAP_WITH_TRUSTED 0x00000210UL

// Return values. The full table of names lives in errors.cc.
#define CKR_OK 0x00000000UL
#define CKR_GENERAL_ERROR 0x00000005UL
#define CKR_FUNCTION_FAILED 0x00000006UL
#define CKR_ARGUMENTS_BAD 0x00000007UL
#define CKR_CANT_LOCK 0x0000000AUL
#define CKR_DATA_INVALID 0x00000020UL
#define CKR_DATA_LEN_RANGE 0x00000021UL
#define CKR_DEVICE_ERROR 0x00000030UL
#define CKR_DEVICE_MEMORY 0x00000031UL
#define CKR_DEVICE_REMOVED 0x00000032UL
#define CKR_ENCRYPTED_DATA_INVALID 0x00000040UL
#define CKR_ENCRYPTED_DATA_LEN_RANGE 0x00000041UL
#define CKR_AEAD_DECRYPT_FAILED 0x00000042UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x00000054UL
#define CKR_KEY_HANDLE_INVALID 0x00000060UL
#define CKR_KEY_TYPE_INCONSISTENT 0x00000063UL
#define CKR_KEY_FUNCTION_NOT_PERMITTED 0x00000068UL
#define CKR_MECHANISM_INVALID 0x00000070UL
#define CKR_MECHANISM_PARAM_INVALID 0x00000071UL
#define CKR_OBJECT_HANDLE_INVALID 0x00000082UL
#define CKR_OPERATION_ACTIVE 0x00000090UL
#define CKR_OPERATION_NOT_INITIALIZED 0x00000091UL
#define CKR_PIN_INCORRECT 0x000000A0UL
#define CKR_PIN_INVALID 0x000000A1UL
#define CKR_PIN_LEN_RANGE 0x000000A2UL
#define CKR_PIN_EXPIRED 0x000000A3UL
#define CKR_PIN_LOCKED 0x000000A4UL
#define CKR_SESSION_CLOSED 0x000000B0UL
#define CKR_SESSION_COUNT 0x000000B1UL
#define CKR_SESSION_HANDLE_INVALID 0x000000B3UL
#define CKR_TOKEN_NOT_PRESENT 0x000000E0UL
#define CKR_TOKEN_NOT_RECOGNIZED 0x000000E1UL
#define CKR_USER_ALREADY_LOGGED_IN 0x00000100UL
#define CKR_USER_NOT_LOGGED_IN 0x00000101UL
#define CKR_USER_PIN_NOT_INITIALIZED 0x00000102UL
#define CKR_USER_ANOTHER_ALREADY_LOGGED_IN 0x00000104UL
#define CKR_KEY_NOT_WRAPPABLE 0x00000069UL
#define CKR_BUFFER_TOO_SMALL 0x00000150UL
#define CKR_CRYPTOKI_NOT_INITIALIZED 0x00000190UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x00000191UL
#define CKR_VENDOR_DEFINED 0x80000000UL

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // HSM_KMS_PKCS11_API_H_
