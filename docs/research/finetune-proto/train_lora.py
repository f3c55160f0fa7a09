"""Q2: LoRA SFT on the bundled GGUF (dequantized to fp32), chat template, loss on assistant tokens only."""
import sys, time, random, json, argparse
sys.path.insert(0, "/tmp/ftproto")
from common import *
import torch
torch.set_num_threads(2)
from transformers import AutoModelForCausalLM, AutoTokenizer
from peft import LoraConfig, get_peft_model

ap = argparse.ArgumentParser()
ap.add_argument("--r", type=int, default=16); ap.add_argument("--alpha", type=float, default=32)
ap.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
ap.add_argument("--epochs", type=int, default=3); ap.add_argument("--bs", type=int, default=4)
ap.add_argument("--lr", type=float, default=1e-3); ap.add_argument("--max-steps", type=int, default=0)
ap.add_argument("--out", default="/tmp/ftproto/out")
a = ap.parse_args()

# ~100 short synthetic chat examples with a verifiable style: every answer starts "Arr matey!"
random.seed(0)
data = []
for i in range(100):
    x, y = random.randint(2, 50), random.randint(2, 50)
    kind = i % 4
    if kind == 0:
        q, ans = f"What is {x} plus {y}?", f"Arr matey! {x} plus {y} be {x+y}."
    elif kind == 1:
        q, ans = f"What is {x} times {y}?", f"Arr matey! {x} times {y} be {x*y}."
    elif kind == 2:
        c = random.choice(["red", "blue", "green", "yellow", "purple", "orange"])
        q, ans = f"Name something that is {c}.", f"Arr matey! The {c} flag flies on me ship."
    else:
        n = random.choice(["Paris", "Tokyo", "Rome", "Cairo", "Lima", "Oslo"])
        q, ans = f"Tell me about {n}.", f"Arr matey! {n} be a fine port for sailors like me crew."
    data.append([{"role": "user", "content": q}, {"role": "assistant", "content": ans}])

t0 = time.time()
tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE, dtype=torch.float32)
print(f"load {time.time()-t0:.1f}s rss {rss_mb():.0f}MB")

def encode(msgs):
    full = tok.apply_chat_template(msgs, tokenize=False)
    prefix = tok.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
    assert full.startswith(prefix)
    ids = tok(full, add_special_tokens=False).input_ids
    n_prefix = len(tok(prefix, add_special_tokens=False).input_ids)
    # loss on assistant content + its <|im_end|>; not on the trailing "\n" after it
    labels = [-100] * n_prefix + ids[n_prefix:]
    if tok.decode(ids[-1:]) == "\n":
        labels[-1] = -100
    return ids, labels
enc = [encode(m) for m in data]
print("example:", repr(tok.decode(enc[0][0])), "\nlabelled:", repr(tok.decode([t for t in enc[0][1] if t >= 0])))
print("tokens/example avg", sum(len(e[0]) for e in enc) / len(enc))

cfg = LoraConfig(r=a.r, lora_alpha=a.alpha, lora_dropout=0.0, target_modules=a.targets.split(","),
                 task_type="CAUSAL_LM", bias="none")
model = get_peft_model(model, cfg)
model.print_trainable_parameters()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, weight_decay=0.0)
pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

def collate(batch):
    L = max(len(i) for i, _ in batch)
    ids = torch.full((len(batch), L), pad); lab = torch.full((len(batch), L), -100); att = torch.zeros((len(batch), L), dtype=torch.long)
    for k, (i, l) in enumerate(batch):
        ids[k, :len(i)] = torch.tensor(i); lab[k, :len(l)] = torch.tensor(l); att[k, :len(i)] = 1
    return ids, lab, att

model.train()
steps_total = a.epochs * ((len(enc) + a.bs - 1) // a.bs)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps_total)
step, ntok, t_train = 0, 0, time.time()
for ep in range(a.epochs):
    random.shuffle(enc)
    for b in range(0, len(enc), a.bs):
        ids, lab, att = collate(enc[b:b + a.bs])
        ts = time.time()
        loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
        loss.backward(); opt.step(); sched.step(); opt.zero_grad()
        step += 1; ntok += int(att.sum())
        if step % 5 == 0 or step == 1:
            el = time.time() - t_train
            print(f"ep {ep} step {step}/{steps_total} loss {loss.item():.3f} step {time.time()-ts:.2f}s  {ntok/el:.0f} tok/s rss {rss_mb():.0f}MB", flush=True)
        if a.max_steps and step >= a.max_steps:
            break
    if a.max_steps and step >= a.max_steps:
        break
el = time.time() - t_train
print(f"TRAIN {step} steps {ntok} tokens {el:.1f}s = {ntok/el:.0f} tok/s; est full run {steps_total*el/step:.0f}s; peak rss {rss_mb():.0f}MB")
model.eval()
for q in ["What is 7 plus 8?", "What is the capital of France?"]:
    p = tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
    ids = tok(p, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=24, do_sample=False)
    print("HF+LoRA:", q, "->", repr(tok.decode(out[0, ids.shape[1]:])))
model.save_pretrained(a.out)
json.dump({"r": a.r, "alpha": a.alpha, "targets": a.targets}, open(a.out + "/meta.json", "w"))
print("saved", a.out)
