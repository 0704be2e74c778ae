// runtime.h over host memory, for the emulated test build (emulator.h): the "device" is this process,
// allocations are poisoned and guarded (emu::alloc), and the memory figures are the emulator's own.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "../runtime.h"
#include "emulator.h"

namespace spogw::gpu {

namespace {

// A pretend device size, so that out-of-memory handling can be tested: SPOGW_EMU_DEVICE_MIB, else 4 GiB.
int64_t emulated_total() {
  static const int64_t total = [] {
    const char* v = std::getenv("SPOGW_EMU_DEVICE_MIB");
    return (v && *v ? std::max<int64_t>(1, std::atoll(v)) : 4096) << 20;
  }();
  return total;
}

std::mutex g_mutex;
int64_t g_peak = 0;

}  // namespace

bool device_usable(std::string*) { return true; }
void require_device(const std::string&) {}
std::string device_name() { return "CPU emulation of a CUDA device"; }

MemInfo mem_info() { return MemInfo{emulated_total() - emu::live_bytes(), emulated_total()}; }

void* device_alloc(int64_t bytes, const char* what) {
  if (bytes > emulated_total() - emu::live_bytes())
    throw OutOfMemory(std::string("CUDA out of memory: ") + what + " needs " + std::to_string(bytes >> 20) + " MiB (emulated device of " +
                          std::to_string(emulated_total() >> 20) + " MiB)",
                      bytes);
  void* p = emu::alloc(size_t(bytes));
  if (p == nullptr) throw OutOfMemory(std::string("host out of memory emulating ") + what, bytes);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_peak = std::max(g_peak, emu::live_bytes());
  return p;
}
void device_free(void* p) { emu::release(p); }
void copy_to_device(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, size_t(bytes));
}
void copy_to_host(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, size_t(bytes));
}
void copy_on_device(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0) std::memmove(dst, src, size_t(bytes));
}
void fill_zero(void* p, int64_t bytes) {
  if (bytes > 0) std::memset(p, 0, size_t(bytes));
}
void synchronize(const char* what) { emu::check_guards(what); }
int64_t allocated_bytes() { return emu::live_bytes(); }
int64_t peak_allocated_bytes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_peak;
}
void reset_peak() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_peak = emu::live_bytes();
}

}  // namespace spogw::gpu
