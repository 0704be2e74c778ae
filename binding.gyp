# node-gyp build of the CPU variant, from the same sources as native/CMakeLists.txt (which is the
# primary build: cmake-js, CUDA, prebuilds). `npm run build:gyp` writes build/Release/spogw.node; the
# loader treats it as a local build, and build/Release/spogw-sandbox-launch, the Python sandbox's launcher.
# "gypfile": false in package.json keeps npm from running it on install.
{
  "variables": {
    "openblas_include%": "/usr/include/x86_64-linux-gnu/openblas-pthread",
    "openblas_static%": "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.a"
  },
  "targets": [
    {
      "target_name": "spogw",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native/src/cpu').filter(f => f.endsWith('.cc')).map(f => 'native/src/cpu/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/src/engine').filter(f => f.endsWith('.cc')).map(f => 'native/src/engine/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/src/napi').filter(f => f.endsWith('.cc')).map(f => 'native/src/napi/' + f).join(' ')\")"
      ],
      "include_dirs": [
        "native/include",
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(openblas_include)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "SPOGW_HAVE_OPENBLAS",
        "SPOGW_ISA_BASELINE=\"native\"",
        "SPOGW_VARIANT=\"cpu\"",
        "SPOGW_BUILD_SYSTEM=\"node-gyp\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-ffp-contract=off", "-fexceptions"],
      "libraries": ["<(openblas_static)", "-lpthread", "-lm"],
      "ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--exclude-libs,ALL"]
    },
    {
      "target_name": "spogw-sandbox-launch",
      "type": "executable",
      "sources": ["native/src/launcher/sandbox_launch.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
      "ldflags": ["-static"]
    }
  ]
}
