// Aliases: friendly names that point at one key each. They follow the AWS
// naming rules (see validateAliasName) and are deleted with their key.
import type { Engine } from './engine.js';
import { aliasArn, validateAliasName } from './identifiers.js';
import { rejectPendingDeletion } from './key-usability.js';
import { resolveKey } from './key-resolution.js';
import type { AliasRequest, DeleteAliasRequest, ListAliasesRequest, ListAliasesResponse } from './types.js';
import { validateLimit, validateMarker } from './validation.js';

/** Resolves the TargetKeyId of an alias request, which takes a key ID or key ARN but no alias. */
function targetKey(engine: Engine, targetKeyId: unknown) {
  return resolveKey(engine, targetKeyId, { field: 'TargetKeyId', acceptAliases: false });
}

export function createAlias(engine: Engine, request: AliasRequest): void {
  const aliasName = validateAliasName(request.AliasName);
  const key = targetKey(engine, request.TargetKeyId);
  rejectPendingDeletion(key);
  engine.metadata.insertAlias({ aliasName, targetKeyId: key.keyId, creationDate: engine.now() });
}

/** Points an existing alias at another key; a destination key pending deletion is rejected, as in AWS KMS. */
export function updateAlias(engine: Engine, request: AliasRequest): void {
  const aliasName = validateAliasName(request.AliasName);
  const key = targetKey(engine, request.TargetKeyId);
  rejectPendingDeletion(key);
  engine.metadata.updateAliasTarget(aliasName, key.keyId, engine.now());
}

export function deleteAlias(engine: Engine, request: DeleteAliasRequest): void {
  const aliasName = validateAliasName(request.AliasName);
  engine.metadata.deleteAlias(aliasName);
}

export function listAliases(engine: Engine, request: ListAliasesRequest): ListAliasesResponse {
  const limit = validateLimit(request.Limit, 50);
  const marker = validateMarker(request.Marker);
  const keyId =
    request.KeyId === undefined || request.KeyId === null
      ? undefined
      : resolveKey(engine, request.KeyId, { acceptAliases: false, malformedArnError: 'InvalidArnException' }).keyId;

  const page = engine.metadata.listAliases({ keyId, limit, marker });
  const { region, accountId, partition } = engine.scope;
  const response: ListAliasesResponse = {
    Aliases: page.items.map((alias) => ({
      AliasName: alias.aliasName,
      AliasArn: aliasArn(region, accountId, alias.aliasName, partition),
      TargetKeyId: alias.targetKeyId,
      CreationDate: alias.creationDate,
      LastUpdatedDate: alias.lastUpdatedDate,
    })),
    Truncated: page.truncated,
  };
  if (page.nextMarker) response.NextMarker = page.nextMarker;
  return response;
}
