"""A GGUF model's tensors as float64 arrays, read and dequantized here from the file format description
(ggml-common.h block layouts), sharing no code with the engine (C++) or the TypeScript reader.

Values are the exact reals the blocks stand for (d * scale * q - dmin * min, in float64), which is what
llama.cpp's integer dot products compute with. Types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
"""
import struct

import numpy as np

TYPE_NAMES = {0: "F32", 1: "F16", 30: "BF16", 8: "Q8_0", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1",
              10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K"}
# (values, bytes) per block
BLOCKS = {"F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "Q8_0": (32, 34), "Q4_0": (32, 18), "Q4_1": (32, 20),
          "Q5_0": (32, 22), "Q5_1": (32, 24), "Q2_K": (256, 84), "Q3_K": (256, 110), "Q4_K": (256, 144),
          "Q5_K": (256, 176), "Q6_K": (256, 210)}


def _half(b, at):
    return b[:, at : at + 2].copy().view("<f2").astype(np.float64)  # [blocks, 1]


def _nibbles32(qs):
    """Values 0..31 of a 32-value block: low nibbles first, then high nibbles."""
    return np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int64)


def _fifth_bits(qh_bytes):
    qh = qh_bytes.copy().view("<u4").astype(np.int64)  # [blocks, 1]
    return (qh >> np.arange(32)) & 1


def _k4_scales_mins(s):
    """Q4_K/Q5_K: the 6-bit scale and min of each of 8 sub-blocks from the 12 packed bytes."""
    s = s.astype(np.int64)
    sc = np.empty((s.shape[0], 8), np.int64)
    mn = np.empty((s.shape[0], 8), np.int64)
    sc[:, :4], mn[:, :4] = s[:, 0:4] & 63, s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def _layout_2bit():
    """Q2_K/Q3_K low bits: value i = 128 n + 32 s + l sits in bits 2 s of byte 32 n + l."""
    i = np.arange(256)
    return 32 * (i // 128) + i % 32, 2 * ((i % 128) // 32)


def dequantize(type_name, raw, count):
    values, nbytes = BLOCKS[type_name]
    b = np.frombuffer(raw, np.uint8)
    if type_name == "F32":
        return b.view("<f4").astype(np.float64)
    if type_name == "F16":
        return b.view("<f2").astype(np.float64)
    if type_name == "BF16":
        return (b.view("<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64)
    b = b.reshape(-1, nbytes)
    if type_name == "Q8_0":
        out = _half(b, 0) * b[:, 2:].view(np.int8)
    elif type_name in ("Q4_0", "Q4_1"):
        q = _nibbles32(b[:, -16:])
        out = _half(b, 0) * (q - 8) if type_name == "Q4_0" else _half(b, 0) * q + _half(b, 2)
    elif type_name in ("Q5_0", "Q5_1"):
        q = _nibbles32(b[:, -16:]) + 16 * _fifth_bits(b[:, -20:-16])
        out = _half(b, 0) * (q - 16) if type_name == "Q5_0" else _half(b, 0) * q + _half(b, 2)
    elif type_name == "Q2_K":
        at, shift = _layout_2bit()
        q = (b[:, 16 + at].astype(np.int64) >> shift) & 3
        g = np.arange(256) // 16
        sc, mn = b[:, g].astype(np.int64) & 15, b[:, g].astype(np.int64) >> 4
        out = _half(b, 80) * sc * q - _half(b, 82) * mn
    elif type_name == "Q3_K":
        at, shift = _layout_2bit()
        low = (b[:, 32 + at].astype(np.int64) >> shift) & 3
        i = np.arange(256)
        high = (b[:, i % 32].astype(np.int64) >> (i // 32)) & 1
        s = b[:, 96:108].astype(np.int64)
        grp = np.arange(16)
        low4 = np.where(grp < 8, s[:, grp % 8] & 15, s[:, grp % 8] >> 4)
        scales = (low4 | (((s[:, 8 + grp % 4] >> (2 * (grp // 4))) & 3) << 4)) - 32
        out = _half(b, 108) * scales[:, i // 16] * (low - 4 * (1 - high))
    elif type_name in ("Q4_K", "Q5_K"):
        i = np.arange(256)
        j, hi, l = i // 64, (i // 32) % 2, i % 32
        qs = b[:, (16 if type_name == "Q4_K" else 48) + 32 * j + l].astype(np.int64)
        q = np.where(hi == 1, qs >> 4, qs & 15)
        if type_name == "Q5_K":
            q = q + 16 * ((b[:, 16 + l].astype(np.int64) >> (2 * j + hi)) & 1)
        sc, mn = _k4_scales_mins(b[:, 4:16])
        out = _half(b, 0) * sc[:, i // 32] * q - _half(b, 2) * mn[:, i // 32]
    elif type_name == "Q6_K":
        i = np.arange(256)
        n, k, l = i // 128, (i // 32) % 4, i % 32
        low = b[:, 64 * n + 32 * (k % 2) + l].astype(np.int64)
        low = np.where(k < 2, low & 15, low >> 4)
        q = low | (((b[:, 128 + 32 * n + l].astype(np.int64) >> (2 * k)) & 3) << 4)
        scales = b[:, 192:208].view(np.int8).astype(np.int64)
        out = _half(b, 208) * scales[:, i // 16] * (q - 32)
    else:
        raise ValueError("unsupported tensor type " + type_name)
    return out.reshape(-1)[:count]


def _read_string(data, at):
    (n,) = struct.unpack_from("<Q", data, at)
    return data[at + 8 : at + 8 + n].decode(), at + 8 + n


_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def _read_value(data, at, vtype):
    if vtype == 8:
        return _read_string(data, at)
    if vtype == 9:
        (itype, n) = struct.unpack_from("<IQ", data, at)
        at += 12
        items = []
        for _ in range(n):
            v, at = _read_value(data, at, itype)
            items.append(v)
        return items, at
    fmt = _SCALAR[vtype]
    return struct.unpack_from(fmt, data, at)[0], at + struct.calcsize(fmt)


def block_mins(type_name, raw, rows):
    """Q4_1/Q5_1: the min m of each 32-value block, [rows, blocks per row] (None for other types)."""
    if type_name not in ("Q4_1", "Q5_1"):
        return None
    b = np.frombuffer(raw, np.uint8).reshape(-1, BLOCKS[type_name][1])
    return _half(b, 2).reshape(rows, -1)


def read_gguf(path):
    """{name: (float64 array in row-major PyTorch shape, type name, block mins or None)} for every
    tensor of the file."""
    data = open(path, "rb").read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<IIQQ", data, 0)
    assert magic == 0x46554747 and version in (2, 3), path + " is not a GGUF v2/v3 file"
    at, meta = 24, {}
    for _ in range(n_kv):
        key, at = _read_string(data, at)
        (vtype,) = struct.unpack_from("<I", data, at)
        meta[key], at = _read_value(data, at + 4, vtype)
    infos = []
    for _ in range(n_tensors):
        name, at = _read_string(data, at)
        (n_dims,) = struct.unpack_from("<I", data, at)
        dims = struct.unpack_from("<" + "Q" * n_dims, data, at + 4)
        ttype, offset = struct.unpack_from("<IQ", data, at + 4 + 8 * n_dims)
        at += 4 + 8 * n_dims + 12
        infos.append((name, dims, ttype, offset))
    align = meta.get("general.alignment", 32)
    start = (at + align - 1) // align * align
    tensors = {}
    for name, dims, ttype, offset in infos:
        type_name = TYPE_NAMES[ttype]
        values, nbytes = BLOCKS[type_name]
        count = int(np.prod(dims))
        raw = data[start + offset : start + offset + count // values * nbytes]
        shape = tuple(reversed(dims))
        tensors[name] = (dequantize(type_name, raw, count).reshape(shape), type_name, block_mins(type_name, raw, int(np.prod(shape[:-1]))))
    return tensors
