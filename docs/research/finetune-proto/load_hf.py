"""Q1: load the bundled Q4_1 GGUF into transformers; greedy tokens + logits saved for comparison."""
import sys, time, json
sys.path.insert(0, "/tmp/ftproto")
from common import *
t0 = time.time()
import torch
torch.set_num_threads(2)
from transformers import AutoModelForCausalLM, AutoTokenizer
t_imp = time.time() - t0
t0 = time.time()
tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
t_tok = time.time() - t0
t0 = time.time()
model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE, dtype=torch.float32)
t_model = time.time() - t0
model.eval()
print(f"import {t_imp:.1f}s tokenizer {t_tok:.1f}s model {t_model:.1f}s peak RSS {rss_mb():.0f} MB")
print(type(model).__name__, model.config.model_type, sum(p.numel() for p in model.parameters())/1e6, "M params")
print("chat_template present:", tok.chat_template is not None, "eos", tok.eos_token, "bos", tok.bos_token)
msgs = [{"role": "user", "content": "What is the capital of France?"}]
text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
print(repr(text))
ids = tok(text, return_tensors="pt", add_special_tokens=False).input_ids
print("prompt ids", ids[0].tolist())
with torch.no_grad():
    t0 = time.time()
    out = model.generate(ids, max_new_tokens=20, do_sample=False)
    print(f"generate 20 tok {time.time()-t0:.2f}s")
    gen = out[0, ids.shape[1]:].tolist()
    logits = model(ids).logits[0, -1].float()
print("greedy", gen, repr(tok.decode(gen)))
json.dump({"prompt_ids": ids[0].tolist(), "greedy": gen, "top10": torch.topk(logits, 10).indices.tolist(),
           "logits": logits.tolist()}, open("/tmp/ftproto/hf_ref.json", "w"))
print("peak RSS", rss_mb())
