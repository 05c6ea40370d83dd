import { describe, expect, it } from 'vitest';

import { encodeEncryptionContext } from '../../src/kms/context.js';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Decodes the canonical encoding back into [key, value] pairs, in encoded order. */
function decodePairs(encoded: Uint8Array): [string, string][] {
  const buffer = Buffer.from(encoded);
  const count = buffer.readUInt32BE(0);
  let offset = 4;
  const readString = (): string => {
    const length = buffer.readUInt32BE(offset);
    const text = buffer.toString('utf8', offset + 4, offset + 4 + length);
    offset += 4 + length;
    return text;
  };
  const pairs: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    pairs.push([readString(), readString()]);
  }
  expect(offset).toBe(buffer.length);
  return pairs;
}

describe('encodeEncryptionContext()', () => {
  it('encodes an absent or empty context as four zero bytes', () => {
    expect(hex(encodeEncryptionContext(undefined))).toBe('00000000');
    expect(hex(encodeEncryptionContext(null))).toBe('00000000');
    expect(hex(encodeEncryptionContext({}))).toBe('00000000');
  });

  it('encodes one pair with length prefixes', () => {
    const encoded = encodeEncryptionContext({ Department: 'Finance' });
    expect(hex(encoded)).toBe(
      '00000001' + '0000000a' + Buffer.from('Department').toString('hex') + '00000007' + Buffer.from('Finance').toString('hex'),
    );
  });

  it('is independent of pair order', () => {
    const first = encodeEncryptionContext({ b: '2', a: '1', c: '3' });
    const second = encodeEncryptionContext({ c: '3', a: '1', b: '2' });
    expect(hex(first)).toBe(hex(second));
    expect(decodePairs(first)).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]);
  });

  it('keeps tricky contexts distinct', () => {
    const contexts = [
      { a: 'bc' },
      { ab: 'c' },
      { abc: '' },
      { '': 'abc' },
      { a: 'b', c: '' },
      { a: '', bc: '' },
      { a: 'b\u0000c' },
      { A: 'bc' },
    ];
    const encodings = contexts.map((context) => hex(encodeEncryptionContext(context)));
    expect(new Set(encodings).size).toBe(contexts.length);
    expect(encodings).not.toContain('00000000');
  });

  it('sorts keys by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF61 is 0xFF61 in UTF-16 but EF BD A1 in UTF-8. U+1F600 is the
    // surrogate pair D83D DE00 in UTF-16 but F0 9F 98 80 in UTF-8. So the
    // two orders disagree.
    const halfwidthStop = '\uFF61';
    const emoji = '\u{1F600}';
    expect([halfwidthStop, emoji].sort()).toEqual([emoji, halfwidthStop]);

    const encoded = encodeEncryptionContext({ [emoji]: 'e', [halfwidthStop]: 'h' });
    expect(decodePairs(encoded)).toEqual([
      [halfwidthStop, 'h'],
      [emoji, 'e'],
    ]);
  });

  it('counts lengths in UTF-8 bytes', () => {
    const encoded = Buffer.from(encodeEncryptionContext({ 'ä': '\u{1F600}' }));
    expect(encoded.readUInt32BE(4)).toBe(2);
    expect(encoded.readUInt32BE(10)).toBe(4);
  });

  it('accepts an object without a prototype', () => {
    const context = Object.create(null) as Record<string, string>;
    context.x = 'y';
    expect(decodePairs(encodeEncryptionContext(context))).toEqual([['x', 'y']]);
  });

  it('rejects a non-string value without showing it', () => {
    const secretLooking = 12345678;
    let caught: unknown;
    try {
      encodeEncryptionContext({ ok: 'fine', count: secretLooking });
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({
      name: 'ValidationException',
      message: "EncryptionContext value for key 'count' must be a string but is of type number. Convert the value to a string.",
    });
    expect((caught as Error).message).not.toContain(String(secretLooking));
  });

  it('reports null and array values by type', () => {
    expect(() => encodeEncryptionContext({ k: null })).toThrow(
      expect.objectContaining({ name: 'ValidationException', message: expect.stringContaining('of type null') }),
    );
    expect(() => encodeEncryptionContext({ k: ['v'] })).toThrow(
      expect.objectContaining({ name: 'ValidationException', message: expect.stringContaining('of type array') }),
    );
  });

  it('rejects contexts that are not plain objects', () => {
    for (const context of ['a=b', 42, [['a', 'b']], new Map([['a', 'b']]), Buffer.from('ab')]) {
      expect(() => encodeEncryptionContext(context)).toThrow(
        expect.objectContaining({
          name: 'ValidationException',
          message: expect.stringContaining('EncryptionContext must be a map of string keys to string values'),
        }),
      );
    }
  });

  it('rejects lone surrogates in keys and values', () => {
    expect(() => encodeEncryptionContext({ ['a\uD800']: 'v' })).toThrow(
      expect.objectContaining({ name: 'ValidationException', message: expect.stringContaining('unpaired UTF-16 surrogate') }),
    );
    expect(() => encodeEncryptionContext({ k: '\uDC00x' })).toThrow(
      expect.objectContaining({
        name: 'ValidationException',
        message: expect.stringMatching(/^EncryptionContext value for key 'k' contains an unpaired UTF-16 surrogate/),
      }),
    );
    expect(() => encodeEncryptionContext({ k: 'x\uD83D' })).toThrow(expect.objectContaining({ name: 'ValidationException' }));
  });

  it('names the given field', () => {
    expect(() => encodeEncryptionContext({ k: 1 }, 'SourceEncryptionContext')).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^SourceEncryptionContext value for key 'k'/) }),
    );
  });
});
