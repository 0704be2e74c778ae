// Read-only GGUF v2/v3 access for the engine: metadata scalars the model needs, tensor infos, and
// tensor data dequantised to float32. The file is memory-mapped; every count, length, dimension, type
// and offset read from it is checked against the file's size before use, and a problem throws
// spogw::Error naming the field and its byte offset.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "spogw/aligned_vector.h"

namespace spogw {

enum GgmlType : uint32_t { kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ8_0 = 8, kGgmlBF16 = 30 };

struct GgufTensor {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous dimension
  uint32_t type = 0;
  uint64_t offset = 0;      // absolute byte offset in the file
  uint64_t nbytes = 0;
  int64_t elements() const;
};

// One metadata value. Arrays keep their element type and length only (plus the strings for string
// arrays when asked), which is all the engine needs.
struct GgufValue {
  uint32_t type = 0;
  uint64_t u = 0;        // unsigned integers and bool
  int64_t i = 0;         // signed integers
  double f = 0.0;        // floats
  std::string s;         // strings
  uint32_t array_type = 0;
  uint64_t array_length = 0;
};

class GgufReader {
 public:
  explicit GgufReader(const std::string& path);
  ~GgufReader();
  GgufReader(const GgufReader&) = delete;
  GgufReader& operator=(const GgufReader&) = delete;

  const std::string& path() const { return path_; }
  bool has(const std::string& key) const { return meta_.count(key) > 0; }
  // Typed getters: throw naming the key when it is missing or of an incompatible type.
  std::string get_string(const std::string& key) const;
  uint64_t get_uint(const std::string& key) const;
  double get_float(const std::string& key) const;
  uint64_t get_array_length(const std::string& key) const;
  uint64_t get_uint_or(const std::string& key, uint64_t fallback) const;
  double get_float_or(const std::string& key, double fallback) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(const std::string& name) const;
  // The tensor's bytes in the mapped file (t.nbytes of them, checked to lie inside it).
  const uint8_t* tensor_bytes(const GgufTensor& t) const { return data_ + t.offset; }
  // Dequantises a tensor (F32, F16, BF16, Q8_0 and the block-quantized types of ggml_quants.h) into
  // `out` (resized to its element count).
  void read_f32(const GgufTensor& t, std::vector<float>& out) const;
  void read_f32(const GgufTensor& t, AlignedFloats& out) const;
  // The blocks of a Q8_0 tensor as they are: int8 values and one scale per 32 values.
  void read_q8_0(const GgufTensor& t, std::vector<int8_t>& q, std::vector<float>& scale) const;

 private:
  void dequantise(const GgufTensor& t, float* out) const;  // t.elements() values
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  std::map<std::string, GgufValue> meta_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> by_name_;
};

const char* ggml_type_name(uint32_t type);

}  // namespace spogw
