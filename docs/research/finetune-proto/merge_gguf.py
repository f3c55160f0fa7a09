"""Q3b: merge a GGUF LoRA adapter into the base GGUF -> full GGUF (same quant type, Q4_1),
with gguf-py only (numpy dequantize/quantize). Copies every KV field and untouched tensor raw."""
import sys, time
import numpy as np
import gguf
from gguf import GGUFReader, GGUFWriter, GGUFValueType
from gguf.quants import dequantize, quantize

base, adapter, dst = sys.argv[1:4]
qtype_out = sys.argv[4] if len(sys.argv) > 4 else None  # e.g. Q8_0 / F16; default: keep each tensor's type
t0 = time.time()
rb, ra = GGUFReader(base), GGUFReader(adapter)
alpha = float(ra.get_field("adapter.lora.alpha").contents())
lora = {t.name: np.array(t.data, dtype=np.float32) for t in ra.tensors}  # numpy shape = [ne1, ne0]
arch = rb.get_field("general.architecture").contents()
w = GGUFWriter(dst, arch)
for f in rb.fields.values():
    if f.name.startswith("GGUF.") or f.name == "general.architecture":
        continue
    vt = f.types[0]
    if vt == GGUFValueType.ARRAY:
        w.add_key_value(f.name, f.contents(), vt, sub_type=f.types[-1])
    else:
        w.add_key_value(f.name, f.contents(), vt)
w.add_name("hearth-ft-merged")
n_merged = 0
for t in rb.tensors:
    a_name, b_name = t.name + ".lora_a", t.name + ".lora_b"
    if a_name in lora:
        A, Bm = lora[a_name], lora[b_name]           # [r, in], [out, r]
        scale = alpha / A.shape[0]
        W = dequantize(t.data, t.tensor_type).reshape(Bm.shape[0], A.shape[1]).astype(np.float32)
        W = W + scale * (Bm @ A)
        qt = gguf.GGMLQuantizationType[qtype_out] if qtype_out else t.tensor_type
        data = W if qt == gguf.GGMLQuantizationType.F32 else quantize(W, qt)
        w.add_tensor(t.name, data, raw_dtype=qt)
        n_merged += 1
    else:
        shape = [int(x) for x in reversed(t.shape.tolist())]  # numpy order
        w.add_tensor(t.name, t.data, raw_shape=t.data.shape if t.tensor_type in (0, 1) else None,
                     raw_dtype=t.tensor_type)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print(f"merged {n_merged} tensors -> {dst} in {time.time()-t0:.1f}s")
