#include "spogw/engine/gguf_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "spogw/engine/ggml_numerics.h"
#include "spogw/engine/ggml_quants.h"
#include "spogw/error.h"
#include "spogw/threads.h"

namespace spogw {

namespace {

enum GgufValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// Fixed element size of a scalar metadata type, 0 for string/array/unknown.
uint64_t scalar_size(uint32_t t) {
  switch (t) {
    case kU8: case kI8: case kBool: return 1;
    case kU16: case kI16: return 2;
    case kU32: case kI32: case kF32: return 4;
    case kU64: case kI64: case kF64: return 8;
    default: return 0;
  }
}

// Bytes per block and elements per block of a tensor type we can read; {0,0} when unsupported.
std::pair<uint64_t, uint64_t> type_block(uint32_t t) {
  switch (t) {
    case kGgmlF32: return {4, 1};
    case kGgmlF16: return {2, 1};
    case kGgmlBF16: return {2, 1};
    case kGgmlQ8_0: return {34, 32};
    default: {
      const ggml::BlockShape q = ggml::block_shape(t);
      return {uint64_t(q.bytes), uint64_t(q.values)};
    }
  }
}

class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  uint64_t pos() const { return pos_; }
  void need(uint64_t n, const std::string& what) const {
    if (n > size_ || pos_ > size_ - n)
      throw Error("GGUF: truncated file reading " + what + " at byte " + std::to_string(pos_) + " (needs " +
                  std::to_string(n) + " bytes, file has " + std::to_string(size_) + ")");
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const std::string& what) {
    const uint64_t at = pos_;
    const uint64_t len = read<uint64_t>(what + " length");
    if (len > (uint64_t(1) << 30)) throw Error("GGUF: " + what + " at byte " + std::to_string(at) + " claims a length of " + std::to_string(len) + " bytes");
    need(len, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }
  void skip(uint64_t n, const std::string& what) {
    need(n, what);
    pos_ += n;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

GgufValue read_value(Cursor& c, uint32_t type, const std::string& key) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case kU8: v.u = c.read<uint8_t>(key); break;
    case kBool: v.u = c.read<uint8_t>(key); break;
    case kU16: v.u = c.read<uint16_t>(key); break;
    case kU32: v.u = c.read<uint32_t>(key); break;
    case kU64: v.u = c.read<uint64_t>(key); break;
    case kI8: v.i = c.read<int8_t>(key); break;
    case kI16: v.i = c.read<int16_t>(key); break;
    case kI32: v.i = c.read<int32_t>(key); break;
    case kI64: v.i = c.read<int64_t>(key); break;
    case kF32: v.f = c.read<float>(key); break;
    case kF64: v.f = c.read<double>(key); break;
    case kString: v.s = c.read_string(key); break;
    case kArray: {
      const uint64_t at = c.pos();
      v.array_type = c.read<uint32_t>(key + " array type");
      v.array_length = c.read<uint64_t>(key + " array length");
      if (v.array_type == kString) {
        for (uint64_t j = 0; j < v.array_length; j++) {
          const uint64_t len = c.read<uint64_t>(key + "[" + std::to_string(j) + "] length");
          c.skip(len, key + "[" + std::to_string(j) + "]");
        }
      } else {
        const uint64_t es = scalar_size(v.array_type);
        if (es == 0) throw Error("GGUF: metadata " + key + " at byte " + std::to_string(at) + " has an array of unsupported type " + std::to_string(v.array_type));
        uint64_t bytes = 0;
        if (__builtin_mul_overflow(v.array_length, es, &bytes)) throw Error("GGUF: metadata " + key + " array length overflows");
        c.skip(bytes, key);
      }
      break;
    }
    default:
      throw Error("GGUF: metadata " + key + " at byte " + std::to_string(c.pos()) + " has unknown value type " + std::to_string(type));
  }
  return v;
}

}  // namespace

const char* ggml_type_name(uint32_t type) {
  switch (type) {
    case kGgmlF32: return "F32";
    case kGgmlF16: return "F16";
    case kGgmlBF16: return "BF16";
    case kGgmlQ8_0: return "Q8_0";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 6: return "Q5_0";
    case 7: return "Q5_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K";
    case 12: return "Q4_K";
    case 13: return "Q5_K";
    case 14: return "Q6_K";
    case 9: return "Q8_1";
    case 15: return "Q8_K";
    case 16: return "IQ2_XXS";
    case 17: return "IQ2_XS";
    case 18: return "IQ3_XXS";
    case 19: return "IQ1_S";
    case 20: return "IQ4_NL";
    case 21: return "IQ3_S";
    case 22: return "IQ2_S";
    case 23: return "IQ4_XS";
    case 24: return "I8";
    case 25: return "I16";
    case 26: return "I32";
    case 27: return "I64";
    case 28: return "F64";
    case 29: return "IQ1_M";
    case 34: return "TQ1_0";
    case 35: return "TQ2_0";
    case 39: return "MXFP4";
    case 40: return "NVFP4";
    case 41: return "Q1_0";
    case 42: return "Q2_0";
    default: return "unknown";
  }
}

int64_t GgufTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n = checked_mul(n, d, "tensor element count");
  return n;
}

GgufReader::GgufReader(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + " is not a regular file");
  }
  size_ = uint64_t(st.st_size);
  if (size_ > 0) {
    void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      throw Error("cannot map " + path + ": " + std::strerror(errno));
    }
    data_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);
  try {
    Cursor c(data_, size_);
    const uint32_t magic = c.read<uint32_t>("magic");
    if (magic != 0x46554747u) throw Error("GGUF: " + path + " does not start with the GGUF magic (byte 0)");
    const uint32_t version = c.read<uint32_t>("version");
    if (version != 2 && version != 3) throw Error("GGUF: unsupported version " + std::to_string(version) + " at byte 4 (2 or 3 expected)");
    const uint64_t n_tensors = c.read<uint64_t>("tensor count");
    const uint64_t n_kv = c.read<uint64_t>("metadata count");
    // Each entry needs at least 8+4+... bytes: a count larger than the file cannot be right.
    if (n_tensors > size_ / 8) throw Error("GGUF: tensor count " + std::to_string(n_tensors) + " at byte 8 exceeds what the file can hold");
    if (n_kv > size_ / 8) throw Error("GGUF: metadata count " + std::to_string(n_kv) + " at byte 16 exceeds what the file can hold");
    for (uint64_t i = 0; i < n_kv; i++) {
      const std::string key = c.read_string("metadata key #" + std::to_string(i));
      const uint32_t type = c.read<uint32_t>("type of " + key);
      meta_[key] = read_value(c, type, key);
    }
    uint64_t alignment = 32;
    if (has("general.alignment")) {
      alignment = get_uint("general.alignment");
      if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > 65536)
        throw Error("GGUF: general.alignment " + std::to_string(alignment) + " is not a power of two <= 65536");
    }
    std::vector<uint64_t> rel_offsets;
    for (uint64_t i = 0; i < n_tensors; i++) {
      GgufTensor t;
      const uint64_t at = c.pos();
      t.name = c.read_string("tensor #" + std::to_string(i) + " name");
      const uint32_t n_dims = c.read<uint32_t>(t.name + " dimension count");
      if (n_dims == 0 || n_dims > 4) throw Error("GGUF: tensor " + t.name + " at byte " + std::to_string(at) + " has " + std::to_string(n_dims) + " dimensions (1..4 allowed)");
      for (uint32_t d = 0; d < n_dims; d++) {
        const uint64_t n = c.read<uint64_t>(t.name + " dimension " + std::to_string(d));
        if (n == 0 || n > (uint64_t(1) << 40)) throw Error("GGUF: tensor " + t.name + " dimension " + std::to_string(d) + " = " + std::to_string(n) + " is out of range");
        t.ne.push_back(int64_t(n));
      }
      t.type = c.read<uint32_t>(t.name + " type");
      rel_offsets.push_back(c.read<uint64_t>(t.name + " offset"));
      const int64_t elements = t.elements();
      const auto [block_bytes, block_elems] = type_block(t.type);
      if (block_bytes != 0) {
        if (t.ne[0] % int64_t(block_elems) != 0) throw Error("GGUF: tensor " + t.name + " row length " + std::to_string(t.ne[0]) + " is not a multiple of the " + ggml_type_name(t.type) + " block size");
        t.nbytes = uint64_t(checked_mul(elements / int64_t(block_elems), int64_t(block_bytes), "tensor bytes"));
      }
      if (by_name_.count(t.name)) throw Error("GGUF: tensor name " + t.name + " appears twice");
      by_name_[t.name] = tensors_.size();
      tensors_.push_back(std::move(t));
    }
    const uint64_t data_start = (c.pos() + alignment - 1) / alignment * alignment;
    for (size_t i = 0; i < tensors_.size(); i++) {
      GgufTensor& t = tensors_[i];
      uint64_t abs = 0;
      if (__builtin_add_overflow(data_start, rel_offsets[i], &abs) || abs > size_ || t.nbytes > size_ - abs)
        throw Error("GGUF: tensor " + t.name + " data (offset " + std::to_string(rel_offsets[i]) + " + " + std::to_string(t.nbytes) +
                    " bytes after the data section at byte " + std::to_string(data_start) + ") lies outside the file of " + std::to_string(size_) + " bytes");
      t.offset = abs;
    }
  } catch (...) {
    if (data_) munmap(const_cast<uint8_t*>(data_), size_);
    throw;
  }
}

GgufReader::~GgufReader() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

const GgufTensor* GgufReader::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

std::string GgufReader::get_string(const std::string& key) const {
  auto it = meta_.find(key);
  if (it == meta_.end()) throw Error(path_ + ": metadata key " + key + " is missing");
  if (it->second.type != kString) throw Error(path_ + ": metadata key " + key + " is not a string");
  return it->second.s;
}

uint64_t GgufReader::get_uint(const std::string& key) const {
  auto it = meta_.find(key);
  if (it == meta_.end()) throw Error(path_ + ": metadata key " + key + " is missing");
  const GgufValue& v = it->second;
  switch (v.type) {
    case kU8: case kU16: case kU32: case kU64: case kBool: return v.u;
    case kI8: case kI16: case kI32: case kI64:
      if (v.i < 0) throw Error(path_ + ": metadata key " + key + " is negative (" + std::to_string(v.i) + ")");
      return uint64_t(v.i);
    default: throw Error(path_ + ": metadata key " + key + " is not an integer");
  }
}

double GgufReader::get_float(const std::string& key) const {
  auto it = meta_.find(key);
  if (it == meta_.end()) throw Error(path_ + ": metadata key " + key + " is missing");
  const GgufValue& v = it->second;
  if (v.type == kF32 || v.type == kF64) return v.f;
  if (scalar_size(v.type) != 0 && v.type != kBool) return v.type == kI8 || v.type == kI16 || v.type == kI32 || v.type == kI64 ? double(v.i) : double(v.u);
  throw Error(path_ + ": metadata key " + key + " is not a number");
}

uint64_t GgufReader::get_array_length(const std::string& key) const {
  auto it = meta_.find(key);
  if (it == meta_.end()) throw Error(path_ + ": metadata key " + key + " is missing");
  if (it->second.type != kArray) throw Error(path_ + ": metadata key " + key + " is not an array");
  return it->second.array_length;
}

uint64_t GgufReader::get_uint_or(const std::string& key, uint64_t fallback) const {
  return has(key) ? get_uint(key) : fallback;
}
double GgufReader::get_float_or(const std::string& key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}

void GgufReader::read_f32(const GgufTensor& t, std::vector<float>& out) const {
  out.resize(size_t(t.elements()));
  dequantise(t, out.data());
}

void GgufReader::read_f32(const GgufTensor& t, AlignedFloats& out) const {
  out.resize(size_t(t.elements()));
  dequantise(t, out.data());
}

void GgufReader::dequantise(const GgufTensor& t, float* dst) const {
  const auto [block_bytes, block_elems] = type_block(t.type);
  if (block_bytes == 0)
    throw Error("tensor " + t.name + " in " + path_ + " has type " + ggml_type_name(t.type) + " (" + std::to_string(t.type) +
                "), which the trainer cannot read: convert the model to one of F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (e.g. llama-quantize --allow-requantize MODEL OUT Q4_K_M)");
  const int64_t n = t.elements();
  const uint8_t* src = data_ + t.offset;
  switch (t.type) {
    case kGgmlF32: std::memcpy(dst, src, size_t(n) * 4); break;
    case kGgmlF16:
      parallel_for(n, [&](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; i++) { uint16_t h; std::memcpy(&h, src + 2 * i, 2); dst[i] = ggml::f16_to_f32(h); }
      });
      break;
    case kGgmlBF16:
      parallel_for(n, [&](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; i++) {
          uint16_t h; std::memcpy(&h, src + 2 * i, 2);
          const uint32_t bits = uint32_t(h) << 16;
          std::memcpy(&dst[i], &bits, 4);
        }
      });
      break;
    case kGgmlQ8_0:
      parallel_for(n / 32, [&](int64_t a, int64_t b) {
        for (int64_t blk = a; blk < b; blk++) {
          const uint8_t* p = src + blk * 34;
          uint16_t h; std::memcpy(&h, p, 2);
          const float d = ggml::f16_to_f32(h);
          for (int j = 0; j < 32; j++) dst[blk * 32 + j] = d * float(int8_t(p[2 + j]));
        }
      });
      break;
    default:  // the block-quantized types
      parallel_for(n / int64_t(block_elems), [&](int64_t a, int64_t b) {
        ggml::dequantize_row(t.type, src + a * int64_t(block_bytes), (b - a) * int64_t(block_elems), dst + a * int64_t(block_elems));
      });
      break;
  }
}

void GgufReader::read_q8_0(const GgufTensor& t, std::vector<int8_t>& q, std::vector<float>& scale) const {
  if (t.type != kGgmlQ8_0) throw Error("tensor " + t.name + " in " + path_ + " is " + ggml_type_name(t.type) + ", not Q8_0");
  const int64_t blocks = t.elements() / 32;
  q.resize(size_t(blocks * 32));
  scale.resize(size_t(blocks));
  const uint8_t* src = data_ + t.offset;
  parallel_for(blocks, [&](int64_t a, int64_t b) {
    for (int64_t blk = a; blk < b; blk++) {
      const uint8_t* p = src + blk * 34;
      uint16_t h;
      std::memcpy(&h, p, 2);
      scale[size_t(blk)] = ggml::f16_to_f32(h);
      std::memcpy(&q[size_t(blk * 32)], p + 2, 32);
    }
  });
}

}  // namespace spogw
