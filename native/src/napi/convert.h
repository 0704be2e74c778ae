// Argument checking and conversion for the N-API layer. Every value coming from JS is checked here
// (type, integrality, range, array length) before native code sees it; failures throw a JS TypeError
// or RangeError naming the argument.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace spogw::napi {

inline Napi::Float32Array float32_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a Float32Array");
  return info[i].As<Napi::Float32Array>();
}

inline Napi::Int32Array int32_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an Int32Array");
  return info[i].As<Napi::Int32Array>();
}

// A whole number in [lo, hi].
inline int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo,
                       int64_t hi) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || v != std::floor(v) || v < double(lo) || v > double(hi))
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a whole number in [" +
                                                std::to_string(lo) + ", " + std::to_string(hi) +
                                                "], got " + info[i].ToString().Utf8Value());
  return int64_t(v);
}

inline float float_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return float(info[i].As<Napi::Number>().DoubleValue());
}

// A finite number field of an options object; `fallback` when absent unless `required`.
inline float number_field(Napi::Object o, const char* key, float fallback, bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    if (required) throw Napi::TypeError::New(o.Env(), std::string(key) + " is required");
    return fallback;
  }
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a finite number");
  return v.As<Napi::Number>().FloatValue();
}

inline bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* name, bool fallback) {
  if (info.Length() <= i || info[i].IsUndefined()) return fallback;
  if (!info[i].IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

}  // namespace spogw::napi
