// Compares 32-byte AES-256-GCM encryption through the addon with the raw C
// loop on the same SoftHSM2 token, in one run:
//   npx tsc -p tsconfig.json && npx tsx bench/addon-vs-c.ts [--runs 7] [--seconds 1] [--bytes 32]
// Each figure is the median of `runs` runs of `seconds` seconds, in ops/s.
// Run it on an otherwise idle machine: SoftHSM2 serialises on a
// process-wide lock, and a busy second core changes the figures.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openHsm } from '../dist/native.js';
import { provisionSoftHsm } from '../dist/softhsm.js';
import { runAddonLoop } from './addon-loop.js';
import { runCLoop } from './c-loop.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    seconds: { type: 'string', default: '1' },
    bytes: { type: 'string', default: '32' },
  },
});
const runs = Number(values.runs);
const seconds = Number(values.seconds);
const bytes = Number(values.bytes);

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const dir = mkdtempSync(join(tmpdir(), 'hsm-kms-bench-'));
const pin = randomBytes(8).toString('hex');
const tokenSet = provisionSoftHsm({ dir, tokenLabels: ['bench-0'], userPin: pin, soPin: randomBytes(8).toString('hex') });
process.env.SOFTHSM2_CONF = tokenSet.confPath;

const rows: { path: string; opsPerSecond: number }[] = [];
try {
  for (const key of ['token', 'session'] as const) {
    const result = await runCLoop({ tokenSet, tokens: 'bench-0', pin, op: 'encrypt', key, bytes, runs, seconds });
    rows.push({ path: `C loop, 1 thread, ${key} key`, opsPerSecond: result.median });
  }

  for (const sessionKeyCopies of [false, true]) {
    const hsm = await openHsm({ module: tokenSet.modulePath, tokenLabel: 'bench-0', pin, sessionKeyCopies });
    const keyId = randomBytes(16);
    await hsm.generateKey(keyId, Buffer.from('addon-vs-c benchmark key'));
    for (const inFlight of [1, 16, 256]) {
      const samples: number[] = [];
      for (let run = 0; run < runs; run++) {
        samples.push(await runAddonLoop({ hsm, keyId, operation: 'encrypt', bytes, inFlight, seconds }));
      }
      const key = sessionKeyCopies ? 'session' : 'token';
      rows.push({ path: `addon, ${key} key, ${inFlight} in flight`, opsPerSecond: median(samples) });
    }
    await hsm.destroyKey(keyId);
    await hsm.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const fastestC = Math.max(...rows.filter((row) => row.path.startsWith('C loop')).map((row) => row.opsPerSecond));
process.stdout.write(`AES-256-GCM encrypt, ${bytes} B, median of ${runs} x ${seconds} s\n`);
for (const row of rows) {
  const ratio = (row.opsPerSecond / fastestC).toFixed(2);
  process.stdout.write(`${row.path.padEnd(36)} ${Math.round(row.opsPerSecond).toString().padStart(8)} ops/s  ${ratio} x fastest C\n`);
}
