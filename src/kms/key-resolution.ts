// Finds the key that a request names by key ID, key ARN, alias name or
// alias ARN.
import type { Engine } from './engine.js';
import { NotFoundException, quoteForMessage } from './errors.js';
import { parseKeyIdentifier, type KeyIdentifier, type ParseKeyIdentifierOptions } from './identifiers.js';
import type { KeyRecord } from './metadata-records.js';
import { validateKeyIdMember } from './validation.js';

/**
 * Returns the key named by the request member `value`. A key whose creation
 * has not completed does not exist yet. Throws NotFoundException for an
 * unknown key or alias.
 */
export function resolveKey(engine: Engine, value: unknown, options: ParseKeyIdentifierOptions = {}): KeyRecord {
  const field = options.field ?? 'KeyId';
  const text = validateKeyIdMember(value, field);
  const identifier = parseCached(engine, text, options);

  let keyId: string;
  if (identifier.kind === 'aliasName' || identifier.kind === 'aliasArn') {
    const alias = engine.metadata.getAlias(identifier.aliasName);
    if (!alias) {
      throw new NotFoundException(
        `Alias ${quoteForMessage(identifier.aliasName)} does not exist. List aliases with ListAliases.`,
      );
    }
    keyId = alias.targetKeyId;
  } else {
    keyId = identifier.keyId;
  }
  return keyById(engine, keyId, text);
}

// Parsed identifiers by their text, for the options crypto requests use.
// Parsing is pure, and services name the same few keys over and over; the
// map is emptied when it reaches MAX_PARSED_IDENTIFIERS.
const MAX_PARSED_IDENTIFIERS = 10_000;
const parsedIdentifiers = new WeakMap<Engine, Map<string, KeyIdentifier>>();

function parseCached(engine: Engine, text: string, options: ParseKeyIdentifierOptions): KeyIdentifier {
  const cacheable = options.acceptAliases !== false && options.malformedArnError === undefined;
  if (!cacheable) return parseKeyIdentifier(text, engine.scope, options);
  let parsed = parsedIdentifiers.get(engine);
  if (!parsed) {
    parsed = new Map();
    parsedIdentifiers.set(engine, parsed);
  }
  let identifier = parsed.get(text);
  if (!identifier) {
    // Throws for a malformed identifier, which is then never cached.
    identifier = parseKeyIdentifier(text, engine.scope, options);
    if (parsed.size >= MAX_PARSED_IDENTIFIERS) parsed.clear();
    parsed.set(text, identifier);
  }
  return identifier;
}

/** Returns the key with this ID, or throws NotFoundException naming `requested`. */
export function keyById(engine: Engine, keyId: string, requested: string = keyId): KeyRecord {
  const key = engine.metadata.getKey(keyId);
  if (!key || key.creating) {
    throw new NotFoundException(`Key ${quoteForMessage(requested)} does not exist. List keys with ListKeys.`);
  }
  return key;
}
