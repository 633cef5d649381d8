#!/usr/bin/env python3
"""Builds tiny random-weight Gemma 4 text models with transformers and writes reference outputs.

Runs where torch + transformers 5.17 are installed (the GPU machine); the math runs on the CPU in float32 with
eager attention, so the references are deterministic. For each config it writes, under OUT/<name>/:
  hf/                 the HF model (Gemma4ForConditionalGeneration, text only), F32 safetensors + config.json in the
                      released checkpoints' layout (flat text_config.global_head_dim / num_global_key_value_heads)
  tokens.json         {"tokens": [...]} prompt ids (no BOS implied)
  logits.f32          float32 [T, vocab], final logits after the soft-cap, one full forward without cache
  greedy.json         16 greedy tokens (full forward per step), with the top-2 margin of every step
Usage: make_text_fixtures.py OUT_DIR
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import Gemma4Config, Gemma4ForConditionalGeneration

ROPE = {
    "full_attention": {"partial_rotary_factor": 0.25, "rope_theta": 1000000.0, "rope_type": "proportional"},
    "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"},
}

# Each config exercises a different combination of the decoder's features; T exceeds the sliding window.
CONFIGS = {
    # E2B-like: period-4 pattern, PLE, KV sharing with double-wide MLP, 4 query / 2 KV heads, head dims 32/64.
    "e_period4": dict(
        T=40, seed=11, text=dict(vocab_size=320, hidden_size=64, intermediate_size=96, num_hidden_layers=8,
                                 layer_types=["sliding_attention"] * 3 + ["full_attention"] + ["sliding_attention"] * 3 + ["full_attention"],
                                 num_attention_heads=4, num_key_value_heads=2, head_dim=32, global_head_dim=64,
                                 num_global_key_value_heads=None, sliding_window=8, num_kv_shared_layers=3,
                                 hidden_size_per_layer_input=16, vocab_size_per_layer_input=320,
                                 use_double_wide_mlp=True, attention_k_eq_v=False, enable_moe_block=False)),
    # 26B-like: MoE (6 experts, top-2) + dense branch, k_eq_v full layers with their own KV-head count.
    "moe_keqv": dict(
        T=36, seed=22, text=dict(vocab_size=288, hidden_size=64, intermediate_size=40, num_hidden_layers=6,
                                 layer_types=["sliding_attention", "sliding_attention", "full_attention"] * 2,
                                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, global_head_dim=32,
                                 num_global_key_value_heads=1, sliding_window=6, num_kv_shared_layers=0,
                                 hidden_size_per_layer_input=0, vocab_size_per_layer_input=288,
                                 use_double_wide_mlp=False, attention_k_eq_v=True, enable_moe_block=True,
                                 num_experts=6, top_k_experts=2, moe_intermediate_size=24)),
    # 31B-like: dense, k_eq_v, [S x 5, F] pattern, no PLE, no sharing.
    "dense_keqv": dict(
        T=32, seed=33, text=dict(vocab_size=256, hidden_size=48, intermediate_size=80, num_hidden_layers=6,
                                 layer_types=["sliding_attention"] * 5 + ["full_attention"],
                                 num_attention_heads=6, num_key_value_heads=3, head_dim=16, global_head_dim=32,
                                 num_global_key_value_heads=2, sliding_window=4, num_kv_shared_layers=0,
                                 hidden_size_per_layer_input=0, vocab_size_per_layer_input=256,
                                 use_double_wide_mlp=False, attention_k_eq_v=True, enable_moe_block=False)),
}


def randomize(model, ple_dim, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                width = ple_dim if "embed_tokens_per_layer" in name else p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=gen) / width ** 0.5)
            else:
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
        for name, b in model.named_buffers():
            if name.endswith("layer_scalar"):
                b.copy_(torch.rand(b.shape, generator=gen) * 0.6 + 0.7)


def build(name, spec, out_dir):
    text = dict(spec["text"])
    text.update(rope_parameters=ROPE, final_logit_softcapping=30.0, max_position_embeddings=4096,
                rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                pad_token_id=0, bos_token_id=2, eos_token_id=1)
    cfg = Gemma4Config(text_config=text, vision_config=None, audio_config=None)
    cfg._attn_implementation = "eager"
    gen = torch.Generator().manual_seed(spec["seed"])
    model = Gemma4ForConditionalGeneration(cfg).eval().float()
    randomize(model, text.get("hidden_size_per_layer_input") or 1, gen)
    hf_dir = os.path.join(out_dir, name, "hf")
    model.save_pretrained(hf_dir, safe_serialization=True)
    # Released checkpoints keep the two popped kwargs flat in text_config and have no per_layer_config.
    cfg_path = os.path.join(hf_dir, "config.json")
    with open(cfg_path) as f:
        saved = json.load(f)
    saved["text_config"].pop("per_layer_config", None)
    saved["text_config"]["global_head_dim"] = text["global_head_dim"]
    saved["text_config"]["num_global_key_value_heads"] = text["num_global_key_value_heads"]
    with open(cfg_path, "w") as f:
        json.dump(saved, f, indent=2)
    return hf_dir


def reference(name, spec, out_dir, hf_dir):
    model = Gemma4ForConditionalGeneration.from_pretrained(hf_dir, attn_implementation="eager",
                                                           dtype=torch.float32).eval()
    vocab = spec["text"]["vocab_size"]
    rng = np.random.default_rng(spec["seed"])
    tokens = [int(t) for t in rng.integers(3, vocab, size=spec["T"])]
    folder = os.path.join(out_dir, name)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([tokens])).logits[0].float().numpy()
        seq = list(tokens)
        gen, margins = [], []
        for _ in range(16):
            row = model(input_ids=torch.tensor([seq])).logits[0, -1].float().numpy()
            order = np.argsort(-row)
            gen.append(int(order[0]))
            margins.append(float(row[order[0]] - row[order[1]]))
            seq.append(int(order[0]))
    logits.astype("<f4").tofile(os.path.join(folder, "logits.f32"))
    with open(os.path.join(folder, "tokens.json"), "w") as f:
        json.dump({"tokens": tokens}, f)
    with open(os.path.join(folder, "greedy.json"), "w") as f:
        json.dump({"prompt_tokens": tokens, "generated_tokens": gen, "step_top2_margin": margins,
                   "min_step_top2_margin": min(margins), "max_abs_logit": float(np.abs(logits).max()),
                   "transformers_version": transformers.__version__, "torch_version": torch.__version__}, f, indent=1)


def main():
    out_dir = sys.argv[1]
    torch.use_deterministic_algorithms(True)
    for name, spec in CONFIGS.items():
        hf_dir = build(name, spec, out_dir)
        reference(name, spec, out_dir, hf_dir)
        print(name, "done", flush=True)


if __name__ == "__main__":
    main()
