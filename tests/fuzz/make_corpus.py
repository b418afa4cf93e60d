#!/usr/bin/env python3
"""Writes the fuzz seed files: python3 tests/fuzz/make_corpus.py tests/fuzz/corpus

One valid file with every dtype read_f32 handles (plus U16, an empty tensor, a scalar and
metadata), an empty header, and a few malformed files. Standard library only."""
import json, struct, sys, os
out = sys.argv[1]
def f(header, data=b'', pad=True):
    h = json.dumps(header, separators=(',', ':')).encode() if not isinstance(header, bytes) else header
    if pad: h += b' ' * (-len(h) % 8)
    return struct.pack('<Q', len(h)) + h + data
def put(name, b):
    open(os.path.join(out, name), 'wb').write(b)
# valid: several dtypes, an empty tensor, a scalar, metadata
d = b''; hdr = {'__metadata__': {'variant': 'bidir', 'case': 'seed'}}
def add(name, dtype, shape, raw):
    global d
    hdr[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(d), len(d) + len(raw)]}
    d += raw
add('ids', 'I64', [2], struct.pack('<2q', 3, -1))
add('x', 'F32', [2, 2], struct.pack('<4f', 1, -2, 0.5, 3))
add('h', 'F16', [3], struct.pack('<3H', 0x3c00, 0x0001, 0x7c00))
add('b', 'BF16', [1], struct.pack('<H', 0x3fc0))
add('d', 'F64', [1], struct.pack('<d', 0.25))
add('i', 'I32', [1], struct.pack('<i', -7))
add('m', 'U8', [3], bytes([1, 1, 0]))
add('flag', 'BOOL', [1], b'\x01')
add('w', 'U16', [1], b'\x02\x00')
add('empty', 'F32', [0, 4], b'')
add('s', 'F32', [], struct.pack('<f', 9))
put('valid_dtypes.safetensors', f(hdr, d))
put('valid_empty.safetensors', f({}))
put('bad_overlap.safetensors', f({'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},
                                  'b': {'dtype': 'F32', 'shape': [2], 'data_offsets': [4, 12]}}, bytes(12)))
put('bad_shape_mismatch.safetensors', f({'a': {'dtype': 'F32', 'shape': [4, 4], 'data_offsets': [0, 60]}}, bytes(64)))
put('bad_truncated.safetensors', f(hdr, d)[:-5])
put('bad_metadata.safetensors', f({'__metadata__': {'k': 1}}))
put('bad_json.safetensors', f(b'{"a":{"dtype":"F32",', pad=True))
