// The SoftHSM2 tokens of one benchmark run, in a temporary folder. Every path
// of the run (engine, C loop, pkcs11js) uses these tokens, so all figures
// come from the same module, configuration and token files. Token i is
// labeled `bench-i`.
import { randomBytes } from 'node:crypto';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { provisionSoftHsm, type SoftHsmTokenSet } from '../dist/softhsm.js';

export interface BenchTokens extends SoftHsmTokenSet {
  pin: string;
  soPin: string;
}

export function benchTokenLabel(index: number): string {
  return `bench-${index}`;
}

/** Creates `count` tokens under `dir` with random user and SO PINs. */
export function provisionBenchTokens(dir: string, count: number): BenchTokens {
  const pin = randomBytes(12).toString('hex');
  const soPin = randomBytes(12).toString('hex');
  const tokenLabels = Array.from({ length: count }, (_, index) => benchTokenLabel(index));
  const tokenSet = provisionSoftHsm({ dir, tokenLabels, userPin: pin, soPin });
  return { ...tokenSet, pin, soPin };
}

/**
 * Copies the token files of `tokens` into `dir` with a softhsm2.conf of its
 * own. The copy has the same labels, PINs and keys, so a process that sets
 * SOFTHSM2_CONF to it sees the same tokens without sharing their files.
 * Copy only while no process writes to the tokens.
 */
export function copyBenchTokens(tokens: BenchTokens, dir: string): BenchTokens {
  const tokenDir = join(dir, 'tokens');
  cpSync(join(tokens.dir, 'tokens'), tokenDir, { recursive: true });
  const confPath = join(dir, 'softhsm2.conf');
  writeFileSync(
    confPath,
    [
      '# Written by the hsm-kms benchmark for a copy of its token set.',
      `directories.tokendir = ${tokenDir}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      'slots.removable = false',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return { ...tokens, dir, confPath };
}
