#include "cublas_dyn.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

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
  // SPOGW_CUBLAS_DIR names a directory to look in first (pip's nvidia-cublas package keeps the library
  // in site-packages/nvidia/cublas/lib, outside the loader's search path).
#if CUDART_VERSION >= 13000
  const char* sonames[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
#elif CUDART_VERSION >= 12000
  const char* sonames[] = {"libcublas.so.12", "libcublas.so"};
#else
  const char* sonames[] = {"libcublas.so.11", "libcublas.so"};
#endif
  std::vector<std::string> names;
  const char* dir = std::getenv("SPOGW_CUBLAS_DIR");
  if (dir && *dir)
    for (const char* so : sonames) names.push_back(std::string(dir) + "/" + so);
  for (const char* so : sonames) names.push_back(so);
  std::string errors;
  for (const std::string& path : names) {
    const char* name = path.c_str();
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
        resolve(lib, "cublasSgemm_v2", &l.api.sgemm, &why) &&
        resolve(lib, "cublasGemmEx", &l.api.gemmEx, &why)) {
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
