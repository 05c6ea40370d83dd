{
  "variables": {
    # 1 adds AddressSanitizer and UndefinedBehaviorSanitizer to the Debug build
    # (npm run build:asan). Node itself is not instrumented, so the tests load
    # the ASan runtime with LD_PRELOAD (test/asan/run.mjs).
    "sanitize%": 0,
    # 1 when this checkout has test/fault-module, so the fault_pkcs11 target
    # below is built.
    "fault_module%": "<!(node -p \"require('fs').existsSync('test/fault-module/fault_pkcs11.c') ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "hsm_kms",
      "sources": [
        "native/addon.cc",
        "native/completion_queue.cc",
        "native/errors.cc",
        "native/hsm_binding.cc",
        "native/hsm_executor.cc",
        "native/iv_source.cc",
        "native/key_objects.cc",
        "native/module_loader.cc",
        "native/session_pool.cc",
        "native/token_crypto.cc",
        "native/wrapping_key.cc",
        "native/token_bucket.cc",
        "native/token_bucket_binding.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=9", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": [
        "-std=c++20",
        "-fexceptions",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Wconversion",
        "-Wno-sign-conversion",
        "-Werror",
        "-fvisibility=hidden"
      ],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "libraries": ["-ldl", "-lpthread"],
      "configurations": {
        "Release": {
          "cflags_cc": ["-O2"]
        },
        "Debug": {
          "conditions": [
            ["sanitize==1", {
              "cflags_cc": ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-O1", "-g"],
              "ldflags": ["-fsanitize=address,undefined"]
            }]
          ]
        }
      }
    }
  ],
  "conditions": [
    # The fault module's source is in test/, which the npm package leaves
    # out, so installs from the package skip this target.
    ["fault_module==1", {
      "targets": [
        {
          # A PKCS#11 module for tests that forwards to SoftHSM2 and injects
          # faults (test/fault-module/fault_pkcs11.c). Plain C that never links
          # against Node; the build writes it to
          # build/<configuration>/fault_pkcs11.so.
          "target_name": "fault_pkcs11",
          "type": "shared_library",
          "product_prefix": "",
          "sources": ["test/fault-module/fault_pkcs11.c"],
          "include_dirs": ["native"],
          "cflags": [
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Wconversion",
            "-Wno-sign-conversion",
            "-Werror",
            "-fvisibility=hidden"
          ],
          "libraries": ["-ldl", "-lpthread"],
          "configurations": {
            "Release": {
              "cflags": ["-O2"]
            }
          }
        }
      ]
    }]
  ]
}
