#include "cublas_dyn.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <mutex>

namespace spogw::cuda {

namespace {

struct Loaded {
  CublasApi api;
  bool ok = false;
  std::string status;
};

template <typename Fn>
bool resolve(void* lib, const char* name, Fn* out, std::string* why) {
  void* sym = dlsym(lib, name);
  if (!sym) {
    *why = std::string("missing symbol ") + name;
    return false;
  }
  *out = reinterpret_cast<Fn>(sym);
  return true;
}

Loaded load() {
  Loaded l;
  // Prefer the soname matching the CUDA runtime we link (13, or 11 in the older-driver prebuild), then
  // the unversioned name; the CUDA 13 build also takes cuBLAS 12.
#if CUDART_VERSION >= 13000
  const char* names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
#elif CUDART_VERSION >= 12000
  const char* names[] = {"libcublas.so.12", "libcublas.so"};
#else
  const char* names[] = {"libcublas.so.11", "libcublas.so"};
#endif
  std::string errors;
  for (const char* name : names) {
    void* lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      if (!errors.empty()) errors += "; ";
      errors += e ? e : name;
      continue;
    }
    std::string why;
    if (resolve(lib, "cublasCreate_v2", &l.api.create, &why) &&
        resolve(lib, "cublasDestroy_v2", &l.api.destroy, &why) &&
        resolve(lib, "cublasSetStream_v2", &l.api.setStream, &why) &&
        resolve(lib, "cublasSgemm_v2", &l.api.sgemm, &why)) {
      l.ok = true;
      l.status = name;
      return l;
    }
    errors += std::string("; ") + name + ": " + why;
    dlclose(lib);
  }
  l.status = "unavailable: " + errors;
  return l;
}

}  // namespace

const CublasApi* cublas(std::string* status) {
  static Loaded loaded = load();  // thread-safe one-time initialisation
  if (status) *status = loaded.status;
  return loaded.ok ? &loaded.api : nullptr;
}

}  // namespace spogw::cuda
