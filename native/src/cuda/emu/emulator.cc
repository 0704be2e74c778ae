// The fiber scheduler behind emulator.h. One launch at a time per process (a mutex), each block's
// threads as ucontext fibers on the calling thread.
#include "emulator.h"

#include <ucontext.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "spogw/error.h"

namespace spogw::gpu::emu {

namespace {

constexpr int kWarp = 32;
constexpr size_t kStackBytes = 256 * 1024;  // kernels keep register arrays of a few hundred floats
constexpr size_t kGuardBytes = 64;
constexpr unsigned char kGuardByte = 0xA5;

enum class Wait { kNone, kBlock, kWarp };

struct Fiber {
  ucontext_t ctx;
  dim3 tid;
  int linear = 0;
  bool done = false;
  Wait wait = Wait::kNone;
  uint64_t wait_generation = 0;
};

struct Block {
  dim3 grid, block, bid;
  const std::function<void()>* body = nullptr;
  std::vector<Fiber> fibers;
  ucontext_t scheduler;
  int current = -1;
  int live = 0;
  // __syncthreads: arrivals in the current round and the round number.
  int block_arrived = 0;
  uint64_t block_generation = 0;
  // per warp: the same for __syncwarp and shuffles, and each lane's offered value.
  std::vector<int> warp_arrived;
  std::vector<uint64_t> warp_generation;
  std::vector<uint64_t> slots;
  std::vector<unsigned char> smem;
  std::string error;
};

std::mutex g_launch_mutex;
Block* g_block = nullptr;  // the block being run (one launch at a time)
std::vector<std::unique_ptr<char[]>> g_stacks;
std::mt19937_64 g_rng(20240611);

Fiber& self() { return g_block->fibers[size_t(g_block->current)]; }

void yield_to_scheduler() { swapcontext(&self().ctx, &g_block->scheduler); }

void fiber_main() {
  (*g_block->body)();
  Fiber& f = self();
  f.done = true;
  g_block->live--;
  if (g_block->block_arrived > 0 && g_block->error.empty())
    g_block->error = "a thread exited while others wait at __syncthreads (a barrier not reached by every thread of the block)";
  swapcontext(&f.ctx, &g_block->scheduler);
}

int warp_of(const Fiber& f) { return f.linear / kWarp; }

void run_block(Block& b) {
  const int n = int(b.block.x * b.block.y * b.block.z);
  while (g_stacks.size() < size_t(n)) g_stacks.emplace_back(new char[kStackBytes]);
  b.fibers.assign(size_t(n), Fiber());
  b.live = n;
  b.warp_arrived.assign(size_t((n + kWarp - 1) / kWarp), 0);
  b.warp_generation.assign(b.warp_arrived.size(), 0);
  b.slots.assign(size_t(n), 0);
  for (int i = 0; i < n; i++) {
    Fiber& f = b.fibers[size_t(i)];
    f.linear = i;
    f.tid = dim3(unsigned(i) % b.block.x, (unsigned(i) / b.block.x) % b.block.y, unsigned(i) / (b.block.x * b.block.y));
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = g_stacks[size_t(i)].get();
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
  }
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) order[size_t(i)] = i;
  while (b.live > 0 && b.error.empty()) {
    std::shuffle(order.begin(), order.end(), g_rng);
    bool progressed = false;
    for (int i : order) {
      Fiber& f = b.fibers[size_t(i)];
      if (f.done) continue;
      if (f.wait == Wait::kBlock && b.block_generation == f.wait_generation) continue;
      if (f.wait == Wait::kWarp && b.warp_generation[size_t(warp_of(f))] == f.wait_generation) continue;
      f.wait = Wait::kNone;
      b.current = i;
      swapcontext(&b.scheduler, &f.ctx);
      progressed = true;
      if (!b.error.empty()) break;
    }
    if (!progressed && b.error.empty())
      b.error = "threads wait at different barriers (__syncthreads reached by some threads only, or a warp barrier/shuffle not reached by all 32 lanes)";
  }
  b.current = -1;
}

// Generation-counted barrier over `expected` threads; the last arrival releases the others.
void barrier(int& arrived, uint64_t& generation, int expected, Wait kind) {
  Fiber& f = self();
  const uint64_t my = generation;
  if (++arrived == expected) {
    arrived = 0;
    generation++;
    return;
  }
  f.wait = kind;
  f.wait_generation = my;
  while (generation == my && g_block->error.empty()) yield_to_scheduler();
}

int warp_size_of(const Block& b, int warp) {
  const int n = int(b.fibers.size());
  return std::min(kWarp, n - warp * kWarp);
}

struct Allocation {
  size_t bytes;
};
std::mutex g_alloc_mutex;
std::map<unsigned char*, Allocation> g_allocs;  // keyed by the user pointer
int64_t g_live_bytes = 0;

}  // namespace

const dim3& thread_idx() { return self().tid; }
const dim3& block_idx() { return g_block->bid; }
const dim3& block_dim() { return g_block->block; }
const dim3& grid_dim() { return g_block->grid; }
unsigned char* dynamic_shared() { return g_block->smem.data(); }
int lane_id() { return self().linear % kWarp; }

void sync_block() { barrier(g_block->block_arrived, g_block->block_generation, g_block->live, Wait::kBlock); }

void sync_warp() {
  const int w = warp_of(self());
  barrier(g_block->warp_arrived[size_t(w)], g_block->warp_generation[size_t(w)], warp_size_of(*g_block, w), Wait::kWarp);
}

uint64_t shuffle(uint64_t value, int src_lane) {
  Block& b = *g_block;
  const Fiber& f = self();
  const int w = warp_of(f);
  b.slots[size_t(f.linear)] = value;
  sync_warp();  // every lane has offered its value
  const int src = w * kWarp + src_lane;
  const uint64_t out = src < int(b.slots.size()) ? b.slots[size_t(src)] : value;
  sync_warp();  // every lane has read before any lane offers its next value
  return out;
}

void run(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem, const std::function<void()>& body) {
  const size_t threads = size_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024) throw Error(std::string("emulated launch of ") + kernel + ": " + std::to_string(threads) + " threads per block");
  if (threads % kWarp != 0) throw Error(std::string("emulated launch of ") + kernel + ": blocks must be whole warps");
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  const size_t blocks = size_t(grid.x) * grid.y * grid.z;
  std::vector<size_t> order(blocks);
  for (size_t i = 0; i < blocks; i++) order[i] = i;
  std::shuffle(order.begin(), order.end(), g_rng);
  for (size_t i : order) {
    Block b;
    b.grid = grid;
    b.block = block;
    b.bid = dim3(unsigned(i % grid.x), unsigned((i / grid.x) % grid.y), unsigned(i / (size_t(grid.x) * grid.y)));
    b.body = &body;
    b.smem.assign(dynamic_smem, 0xFF);  // poisoned, as uninitialised shared memory may hold anything
    g_block = &b;
    run_block(b);
    g_block = nullptr;
    if (!b.error.empty()) throw Error(std::string("emulated kernel ") + kernel + ": " + b.error);
  }
  check_guards(kernel);
}

void* alloc(size_t bytes) {
  auto* raw = static_cast<unsigned char*>(std::malloc(bytes + 2 * kGuardBytes));
  if (raw == nullptr) return nullptr;
  std::memset(raw, kGuardByte, kGuardBytes);
  std::memset(raw + kGuardBytes, 0xFF, bytes);  // NaN in every float: unwritten outputs show
  std::memset(raw + kGuardBytes + bytes, kGuardByte, kGuardBytes);
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  g_allocs[raw + kGuardBytes] = Allocation{bytes};
  g_live_bytes += int64_t(bytes);
  return raw + kGuardBytes;
}

void release(void* p) {
  if (p == nullptr) return;
  auto* user = static_cast<unsigned char*>(p);
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    auto it = g_allocs.find(user);
    if (it == g_allocs.end()) return;
    g_live_bytes -= int64_t(it->second.bytes);
    g_allocs.erase(it);
  }
  std::free(user - kGuardBytes);
}

void check_guards(const char* kernel) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  for (const auto& [user, a] : g_allocs) {
    for (size_t i = 0; i < kGuardBytes; i++) {
      if (user[-1 - int64_t(i)] != kGuardByte || user[a.bytes + i] != kGuardByte)
        throw Error(std::string("emulated kernel ") + kernel + " wrote outside a device allocation of " + std::to_string(a.bytes) + " bytes");
    }
  }
}

int64_t live_bytes() {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  return g_live_bytes;
}

}  // namespace spogw::gpu::emu
