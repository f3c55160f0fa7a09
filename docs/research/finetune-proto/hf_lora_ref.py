"""Reference logits of HF base+PEFT adapter for the hf_ref.json prompt (to compare with llama.cpp+GGUF adapter)."""
import sys, json; sys.path.insert(0, "/tmp/ftproto")
from common import *
import torch; torch.set_num_threads(2)
from transformers import AutoModelForCausalLM
from peft import PeftModel
m = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE, dtype=torch.float32)
m = PeftModel.from_pretrained(m, sys.argv[1]).eval()
ref = json.load(open("/tmp/ftproto/hf_ref.json"))
ids = torch.tensor([ref["prompt_ids"]])
with torch.no_grad():
    out = m.generate(ids, max_new_tokens=20, do_sample=False)[0, ids.shape[1]:].tolist()
    lg = m(ids).logits[0, -1]
json.dump({"prompt_ids": ref["prompt_ids"], "greedy": out, "top10": torch.topk(lg, 10).indices.tolist(),
           "logits": lg.tolist()}, open(sys.argv[2], "w"))
