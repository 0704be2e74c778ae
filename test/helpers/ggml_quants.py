"""ggml's own reference quantizer and dequantizer, called in node-llama-cpp's libggml-base.so (ctypes).

Usage:
  ggml_quants.py LIB quantize TYPE ROW_LENGTH IN.f32 OUT.bin    ggml_quantize_chunk, no importance matrix
  ggml_quants.py LIB dequantize TYPE IN.bin COUNT OUT.f32        ggml_get_type_traits(TYPE)->to_float

TYPE is a ggml type code; .f32 files hold little-endian float32 values. The peer the TypeScript
quantizers and dequantizers (src/gguf/quants.ts) are held to, byte for byte.
"""
import ctypes
import sys

to_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class TypeTraits(ctypes.Structure):  # ggml.h struct ggml_type_traits
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", to_float_t),
        ("from_float_ref", ctypes.c_void_p),
    ]


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    op, ggml_type = sys.argv[2], int(sys.argv[3])
    traits = lib.ggml_get_type_traits(ggml_type).contents
    if op == "quantize":
        row = int(sys.argv[4])
        data = open(sys.argv[5], "rb").read()
        n = len(data) // 4
        src = ctypes.create_string_buffer(data, len(data))
        dst = ctypes.create_string_buffer(n // traits.blck_size * traits.type_size)
        written = lib.ggml_quantize_chunk(ggml_type, src, dst, 0, n // row, row, None)
        open(sys.argv[6], "wb").write(dst.raw[:written])
    elif op == "dequantize":
        data = open(sys.argv[4], "rb").read()
        count = int(sys.argv[5])
        src = ctypes.create_string_buffer(data, len(data))
        dst = ctypes.create_string_buffer(count * 4)
        traits.to_float(ctypes.cast(src, ctypes.c_void_p), ctypes.cast(dst, ctypes.c_void_p), count)
        open(sys.argv[6], "wb").write(dst.raw)
    else:
        raise SystemExit("unknown operation " + op)
    print(traits.type_name.decode())


if __name__ == "__main__":
    main()
