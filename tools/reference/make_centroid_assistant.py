#!/usr/bin/env python3
"""A centroid-head (use_ordered_embeddings) variant of the mtp fixture's assistant, with transformers references.

Takes the dense assistant of ../shared/fixtures/llamacpp/mtp (assistant_hf/), switches on the masked (centroid)
embedder with a small centroid table (8 centroids of 50 tokens, top-2 => 100 candidate logits), randomizes the
centroids and the token ordering, saves the HF folder, and runs one drafter step of transformers 5.17 (float32, eager,
CPU) on each step's exact "clean" inputs of the fixture (inputs_embeds, position L-1, the target K/V of the source
layers). Writes OUT/hf/ and OUT/steps.f32 = float32 [rounds, 4, 400 logits + 48 hidden], rounds in the order
(p0 r1, p0 r2, p1 r1, p1 r2). Usage: make_centroid_assistant.py MTP_FIXTURE_DIR OUT_DIR
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM


def load(dir_, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(dir_, name), "<f4").reshape(shape))


def main():
    fx, out = sys.argv[1], sys.argv[2]
    cfg = AutoConfig.from_pretrained(os.path.join(fx, "assistant_hf"))
    cfg.use_ordered_embeddings = True
    cfg.num_centroids = 8
    cfg.centroid_intermediate_top_k = 2
    cfg._attn_implementation = "eager"
    dense = AutoModelForCausalLM.from_pretrained(os.path.join(fx, "assistant_hf"), dtype=torch.float32)
    model = AutoModelForCausalLM.from_config(cfg).eval().float()
    missing, unexpected = model.load_state_dict(dense.state_dict(), strict=False)
    print("new tensors:", missing, "unused:", unexpected, flush=True)
    gen = torch.Generator().manual_seed(44)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "centroids" in name:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
        for name, b in model.named_buffers():
            if "token_ordering" in name:
                b.copy_(torch.randperm(b.numel(), generator=gen).to(b.dtype))
    model.save_pretrained(os.path.join(out, "hf"), safe_serialization=True)
    # Released checkpoints keep the popped kwargs flat in text_config (transformers >= 5.15 drops them on save).
    with open(os.path.join(fx, "assistant_hf", "config.json")) as f:
        orig = json.load(f)["text_config"]
    cfg_path = os.path.join(out, "hf", "config.json")
    with open(cfg_path) as f:
        saved = json.load(f)
    for key in ("global_head_dim", "num_global_key_value_heads"):
        if key in orig:
            saved["text_config"][key] = orig[key]
    saved["text_config"].pop("per_layer_config", None)
    with open(cfg_path, "w") as f:
        json.dump(saved, f, indent=2)
    meta = json.load(open(os.path.join(fx, "mtp.json")))
    rows = []
    with torch.no_grad():
        for p in meta["prompts"]:
            for rname in ("clean_round1", "clean_round2"):
                r = p[rname]
                L = r["L"]
                f, kv = r["files"], r["kv_files"]
                x = load(fx, f["inputs_embeds"], (4, 96))
                shared = {t: (load(fx, kv[t]["K"], kv[t]["K_shape"]).unsqueeze(0),
                              load(fx, kv[t]["V"], kv[t]["V_shape"]).unsqueeze(0)) for t in kv}
                for step in range(4):
                    o = model(inputs_embeds=x[step].view(1, 1, 96), position_ids=torch.tensor([[L - 1]]),
                              attention_mask=torch.ones(1, L, dtype=torch.long), shared_kv_states=shared,
                              use_cache=False)
                    rows.append(np.concatenate([o.logits[0, -1].float().numpy(),
                                                o.last_hidden_state[0, -1].float().numpy()]))
    np.stack(rows).astype("<f4").tofile(os.path.join(out, "steps.f32"))
    print("rows", len(rows), flush=True)


if __name__ == "__main__":
    main()
