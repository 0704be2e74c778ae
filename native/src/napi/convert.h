// Argument checking and conversion for the N-API layer. Every value coming from JS is checked here
// (type, integrality, range, presence) before native code sees it; failures throw a JS TypeError or
// RangeError naming the value. The as_* checks are written once and serve both positional arguments
// (*_arg) and the fields of an options object (*_field); a field is always required (no fallbacks:
// the TypeScript side resolves every optional value before it crosses).
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace spogw::napi {

// ---- one value ---------------------------------------------------------------------------------

template <typename Array>
Array as_typed_array(Napi::Env env, Napi::Value v, const std::string& what, napi_typedarray_type type, const char* type_name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(env, what + " must be " + type_name);
  return v.As<Array>();
}

inline Napi::Float32Array as_float32(Napi::Env env, Napi::Value v, const std::string& what) {
  return as_typed_array<Napi::Float32Array>(env, v, what, napi_float32_array, "a Float32Array");
}

inline Napi::Int32Array as_int32(Napi::Env env, Napi::Value v, const std::string& what) {
  return as_typed_array<Napi::Int32Array>(env, v, what, napi_int32_array, "an Int32Array");
}

inline Napi::Object as_object(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) throw Napi::TypeError::New(env, what + " must be an object");
  return v.As<Napi::Object>();
}

// Any JS number (NaN and infinities included: the core's checks name the range a value must be in).
inline double as_number(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, what + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

// A whole number in [lo, hi].
inline int64_t as_int(Napi::Env env, Napi::Value v, const std::string& what, int64_t lo, int64_t hi) {
  const double x = as_number(env, v, what);
  if (!std::isfinite(x) || x != std::floor(x) || x < double(lo) || x > double(hi))
    throw Napi::RangeError::New(env, what + " must be a whole number in [" + std::to_string(lo) + ", " +
                                         std::to_string(hi) + "], got " + v.ToString().Utf8Value());
  return int64_t(x);
}

inline std::string as_string(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsString()) throw Napi::TypeError::New(env, what + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

// ---- positional arguments ----------------------------------------------------------------------

inline Napi::Value arg(const Napi::CallbackInfo& info, size_t i) { return info.Length() > i ? info[i] : info.Env().Undefined(); }

inline Napi::Float32Array float32_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return as_float32(info.Env(), arg(info, i), name);
}

inline Napi::Int32Array int32_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return as_int32(info.Env(), arg(info, i), name);
}

inline int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  return as_int(info.Env(), arg(info, i), name, lo, hi);
}

inline std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return as_string(info.Env(), arg(info, i), name);
}

inline Napi::Object object_arg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  return as_object(info.Env(), arg(info, i), std::string(fn) + ": " + name);
}

// An optional flag of the low-level helpers (gemm's transA/transB, initLora's randomB).
inline bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* name, bool fallback) {
  if (info.Length() <= i || info[i].IsUndefined()) return fallback;
  if (!info[i].IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// ---- fields of an options object (all required) --------------------------------------------------

// o[key], or a TypeError "<fn>: <key> is required" when it is absent.
inline Napi::Value field(Napi::Object o, const char* fn, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) throw Napi::TypeError::New(o.Env(), std::string(fn) + ": " + key + " is required");
  return v;
}

inline std::string field_name(const char* fn, const char* key) { return std::string(fn) + ": " + key; }

inline Napi::Float32Array float32_field(Napi::Object o, const char* fn, const char* key) {
  return as_float32(o.Env(), field(o, fn, key), field_name(fn, key));
}

inline Napi::Int32Array int32_field(Napi::Object o, const char* fn, const char* key) {
  return as_int32(o.Env(), field(o, fn, key), field_name(fn, key));
}

inline float float_field(Napi::Object o, const char* fn, const char* key) {
  return float(as_number(o.Env(), field(o, fn, key), field_name(fn, key)));
}

inline int64_t int_field(Napi::Object o, const char* fn, const char* key, int64_t lo, int64_t hi) {
  return as_int(o.Env(), field(o, fn, key), field_name(fn, key), lo, hi);
}

inline std::string string_field(Napi::Object o, const char* fn, const char* key) {
  return as_string(o.Env(), field(o, fn, key), field_name(fn, key));
}

// ---- sizes -------------------------------------------------------------------------------------

// RangeError "<fn>: <name> has <got> values but needs <want> (<why>)".
inline void require_length(Napi::Env env, const char* fn, const char* name, size_t got, int64_t want, const char* why) {
  if (int64_t(got) != want)
    throw Napi::RangeError::New(env, std::string(fn) + ": " + name + " has " + std::to_string(got) + " values but needs " +
                                         std::to_string(want) + " (" + why + ")");
}

}  // namespace spogw::napi
