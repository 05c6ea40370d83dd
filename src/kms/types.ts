// Request and response shapes of the KMS operations, as the AWS KMS API
// defines them: PascalCase members, Uint8Array blobs and Date timestamps.
// Members of the AWS API that do not apply to keys in a CloudHSM key store
// (Nitro Enclaves recipients, tags, policies, multi-Region keys) are left out;
// requests that carry them are accepted and those members ignored.
import type { EncryptionContext } from './context.js';

export type { EncryptionContext };
export type EncryptionAlgorithm = 'SYMMETRIC_DEFAULT';
export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'Unavailable';
export type ConnectionState = 'CONNECTED' | 'CONNECTING' | 'DISCONNECTED' | 'DISCONNECTING' | 'FAILED';
export type ConnectionErrorCode =
  | 'INVALID_CREDENTIALS'
  | 'CLUSTER_NOT_FOUND'
  | 'NETWORK_ERRORS'
  | 'INTERNAL_ERROR'
  | 'INSUFFICIENT_CLOUDHSM_HSMS'
  | 'USER_LOCKED_OUT'
  | 'USER_NOT_FOUND'
  | 'USER_LOGGED_IN';

interface CommonCryptoRequest {
  GrantTokens?: string[];
  DryRun?: boolean;
}

export interface EncryptRequest extends CommonCryptoRequest {
  KeyId: string;
  Plaintext: Uint8Array;
  EncryptionContext?: EncryptionContext;
  EncryptionAlgorithm?: string;
}

export interface EncryptResponse {
  CiphertextBlob: Uint8Array;
  KeyId: string;
  EncryptionAlgorithm: EncryptionAlgorithm;
}

export interface DecryptRequest extends CommonCryptoRequest {
  CiphertextBlob: Uint8Array;
  KeyId?: string;
  EncryptionContext?: EncryptionContext;
  EncryptionAlgorithm?: string;
}

export interface DecryptResponse {
  KeyId: string;
  Plaintext: Uint8Array;
  EncryptionAlgorithm: EncryptionAlgorithm;
}

export interface GenerateDataKeyRequest extends CommonCryptoRequest {
  KeyId: string;
  EncryptionContext?: EncryptionContext;
  NumberOfBytes?: number;
  KeySpec?: 'AES_256' | 'AES_128';
}

export interface GenerateDataKeyResponse {
  CiphertextBlob: Uint8Array;
  Plaintext: Uint8Array;
  KeyId: string;
}

export type GenerateDataKeyWithoutPlaintextRequest = GenerateDataKeyRequest;

export interface GenerateDataKeyWithoutPlaintextResponse {
  CiphertextBlob: Uint8Array;
  KeyId: string;
}

export interface ReEncryptRequest extends CommonCryptoRequest {
  CiphertextBlob: Uint8Array;
  SourceEncryptionContext?: EncryptionContext;
  SourceKeyId?: string;
  DestinationKeyId: string;
  DestinationEncryptionContext?: EncryptionContext;
  SourceEncryptionAlgorithm?: string;
  DestinationEncryptionAlgorithm?: string;
}

export interface ReEncryptResponse {
  CiphertextBlob: Uint8Array;
  SourceKeyId: string;
  KeyId: string;
  SourceEncryptionAlgorithm: EncryptionAlgorithm;
  DestinationEncryptionAlgorithm: EncryptionAlgorithm;
}

export interface GenerateRandomRequest {
  NumberOfBytes?: number;
  CustomKeyStoreId?: string;
}

export interface GenerateRandomResponse {
  Plaintext: Uint8Array;
}

export interface CreateKeyRequest {
  Description?: string;
  KeyUsage?: string;
  KeySpec?: string;
  CustomerMasterKeySpec?: string;
  Origin?: string;
  CustomKeyStoreId?: string;
  MultiRegion?: boolean;
  Policy?: string;
  BypassPolicyLockoutSafetyCheck?: boolean;
  Tags?: { TagKey: string; TagValue: string }[];
}

export interface KeyMetadata {
  AWSAccountId: string;
  KeyId: string;
  Arn: string;
  CreationDate: Date;
  Enabled: boolean;
  Description: string;
  KeyUsage: 'ENCRYPT_DECRYPT';
  KeyState: KeyState;
  DeletionDate?: Date;
  PendingDeletionWindowInDays?: number;
  Origin: 'AWS_CLOUDHSM';
  CustomKeyStoreId: string;
  CloudHsmClusterId: string;
  KeyManager: 'CUSTOMER';
  CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT';
  KeySpec: 'SYMMETRIC_DEFAULT';
  EncryptionAlgorithms: EncryptionAlgorithm[];
  MultiRegion: false;
}

export interface CreateKeyResponse {
  KeyMetadata: KeyMetadata;
}

export interface DescribeKeyRequest {
  KeyId: string;
  GrantTokens?: string[];
}

export interface DescribeKeyResponse {
  KeyMetadata: KeyMetadata;
}

export interface ListKeysRequest {
  Limit?: number;
  Marker?: string;
}

export interface ListKeysResponse {
  Keys: { KeyId: string; KeyArn: string }[];
  NextMarker?: string;
  Truncated: boolean;
}

export interface KeyIdRequest {
  KeyId: string;
}

export interface ScheduleKeyDeletionRequest {
  KeyId: string;
  PendingWindowInDays?: number;
}

export interface ScheduleKeyDeletionResponse {
  KeyId: string;
  DeletionDate: Date;
  KeyState: 'PendingDeletion';
  PendingWindowInDays: number;
}

export interface CancelKeyDeletionResponse {
  KeyId: string;
}

export interface AliasRequest {
  AliasName: string;
  TargetKeyId: string;
}

export interface DeleteAliasRequest {
  AliasName: string;
}

export interface ListAliasesRequest {
  KeyId?: string;
  Limit?: number;
  Marker?: string;
}

export interface AliasListEntry {
  AliasName: string;
  AliasArn: string;
  TargetKeyId: string;
  CreationDate: Date;
  LastUpdatedDate: Date;
}

export interface ListAliasesResponse {
  Aliases: AliasListEntry[];
  NextMarker?: string;
  Truncated: boolean;
}

export interface CreateCustomKeyStoreRequest {
  CustomKeyStoreName: string;
  CloudHsmClusterId?: string;
  TrustAnchorCertificate?: string;
  KeyStorePassword?: string;
  CustomKeyStoreType?: string;
}

export interface CreateCustomKeyStoreResponse {
  CustomKeyStoreId: string;
}

export interface CustomKeyStoreIdRequest {
  CustomKeyStoreId: string;
}

export interface DescribeCustomKeyStoresRequest {
  CustomKeyStoreId?: string;
  CustomKeyStoreName?: string;
  Limit?: number;
  Marker?: string;
}

export interface CustomKeyStoreEntry {
  CustomKeyStoreId: string;
  CustomKeyStoreName: string;
  CloudHsmClusterId: string;
  TrustAnchorCertificate: string;
  ConnectionState: ConnectionState;
  ConnectionErrorCode?: ConnectionErrorCode;
  CreationDate: Date;
  CustomKeyStoreType: 'AWS_CLOUDHSM';
}

export interface DescribeCustomKeyStoresResponse {
  CustomKeyStores: CustomKeyStoreEntry[];
  NextMarker?: string;
  Truncated: boolean;
}

export interface UpdateCustomKeyStoreRequest {
  CustomKeyStoreId: string;
  NewCustomKeyStoreName?: string;
  KeyStorePassword?: string;
  CloudHsmClusterId?: string;
}

/** The empty response of operations that return no members. */
export type EmptyResponse = Record<string, never>;
