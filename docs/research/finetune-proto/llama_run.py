"""llama.cpp side (run with /work/main/.venv/bin/python): greedy decode + logits, optional LoRA
adapter (per-context), decode speed. Usage: llama_run.py MODEL.gguf [ADAPTER.gguf] [--scale S] [--bench]"""
import ctypes, json, sys, time, argparse
import numpy as np
import llama_cpp as lc

ap = argparse.ArgumentParser()
ap.add_argument("model"); ap.add_argument("adapter", nargs="?")
ap.add_argument("--scale", type=float, default=1.0); ap.add_argument("--bench", action="store_true")
ap.add_argument("--prompt-json", default="/tmp/ftproto/hf_ref.json")
ap.add_argument("--user", default=None)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

@lc.llama_log_callback
def _cb(level, text, ud):
    pass
lc.llama_log_set(_cb, ctypes.c_void_p(0))
lc.llama_backend_init()
mp = lc.llama_model_default_params()
t0 = time.time()
model = lc.llama_model_load_from_file(a.model.encode(), mp)
assert model
vocab = lc.llama_model_get_vocab(model)
nv = lc.llama_vocab_n_tokens(vocab)
cp = lc.llama_context_default_params()
cp.n_ctx = 2048; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_seq_max = 4; cp.kv_unified = True
cp.n_threads = a.threads; cp.n_threads_batch = a.threads
cp.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
ctx = lc.llama_init_from_model(model, cp)
assert ctx
print(f"model+ctx load {time.time()-t0:.2f}s")
if a.adapter:
    t0 = time.time()
    ad = lc.llama_adapter_lora_init(model, a.adapter.encode())
    assert ad, "adapter load failed"
    arr = (lc.llama_adapter_lora_p_ctypes * 1)(ad)
    sc = (ctypes.c_float * 1)(a.scale)
    rc = lc.llama_set_adapters_lora(ctx, arr, 1, sc)
    print(f"adapter load+set {time.time()-t0:.3f}s rc={rc}")
mem = lc.llama_get_memory(ctx)
batch = lc.llama_batch_init(512, 0, 1)

def tokenize(text):
    data = text.encode(); cap = len(data) + 8
    arr = (lc.llama_token * cap)()
    n = lc.llama_tokenize(vocab, data, len(data), arr, cap, False, True)
    return list(arr[:n])

def piece(t):
    buf = ctypes.create_string_buffer(256)
    n = lc.llama_token_to_piece(vocab, t, buf, 256, 0, True)
    return buf.raw[:n].decode("utf-8", "replace")

def decode(tokens, pos0, seq=0):
    for i, t in enumerate(tokens):
        batch.token[i] = t; batch.pos[i] = pos0 + i; batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq; batch.logits[i] = 0
    batch.logits[len(tokens) - 1] = 1
    batch.n_tokens = len(tokens)
    assert lc.llama_decode(ctx, batch) == 0
    return np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, len(tokens) - 1), shape=(nv,)).copy()

def greedy(prompt, n, stop=True):
    lc.llama_memory_clear(mem, True)
    logits = decode(prompt, 0); first = logits
    out = []; pos = len(prompt)
    t0 = time.time()
    for _ in range(n):
        t = int(np.argmax(logits)); out.append(t)
        if stop and lc.llama_vocab_is_eog(vocab, t):
            break
        logits = decode([t], pos); pos += 1
    dt = time.time() - t0
    return out, first, dt

ref = json.load(open(a.prompt_json))
prompt = ref["prompt_ids"]
if a.user:
    prompt = tokenize("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                      f"<|im_start|>user\n{a.user}<|im_end|>\n<|im_start|>assistant\n")
out, first, _ = greedy(prompt, 40)
print("greedy", out, repr("".join(piece(t) for t in out)))
if not a.user and "logits" in ref:
    hl = np.array(ref["logits"])
    print("top10 llama", list(np.argsort(-first)[:10]), "\ntop10 hf   ", ref["top10"])
    print("greedy hf  ", ref["greedy"], "match:", out[:len(ref["greedy"])] == ref["greedy"])
    print("max|dlogit| %.3f  corr %.5f" % (np.abs(first - hl).max(), np.corrcoef(first, hl)[0, 1]))
if a.bench:
    rates = []
    for _ in range(3):
        out, _, dt = greedy(prompt, 128, stop=False)
        rates.append(len(out) / dt)
    print("decode tok/s (1 seq, 128 tok):", ["%.1f" % r for r in rates], "best %.1f" % max(rates))
