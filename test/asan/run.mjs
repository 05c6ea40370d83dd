// Runs the native tests against an AddressSanitizer and
// UndefinedBehaviorSanitizer build of the addon (build/Debug, made by
// `npm run build:asan`). Node itself is not instrumented, so the ASan runtime
// is preloaded into every process the test run starts.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const addon = join(root, 'build/Debug/hsm_kms.node');
if (!existsSync(addon)) {
  console.error(`${addon} is missing: run "npm run build:asan" first`);
  process.exit(1);
}

const runtime = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
const env = {
  ...process.env,
  HSM_KMS_ADDON: addon,
  LD_PRELOAD: runtime,
  // Node and V8 keep allocations until exit by design, so leak reports at
  // exit are noise; errors still abort the process.
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:allocator_may_return_null=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
const vitest = join(root, 'node_modules/vitest/vitest.mjs');
const result = spawnSync(process.execPath, [vitest, 'run', 'test/native'], { cwd: root, env, stdio: 'inherit' });
process.exit(result.status ?? 1);
