#!/usr/bin/env python3
"""Builds tiny random-weight Gemma 4 vision models with transformers and writes reference outputs.

Runs where torch + transformers 5.17 (+ torchvision, Pillow) are installed (the GPU machine); the math runs on the
CPU in float32 with eager attention. Two configs, each fed a prompt with TWO images of different aspect ratios:
  std_bidir   26B/31B-style: standardized tower (std_bias/std_scale), no clippable linears, and the text model's
              use_bidirectional_attention = "vision" (soft tokens of one image attend each other on sliding layers)
  e_clip140   E2B/E4B-style: clippable linears with calibrated clamps, causal text attention, 140-token budget
For each config it writes, under OUT/<name>/:
  hf/                     Gemma4ForConditionalGeneration, F32 safetensors, config.json in the released layout,
                          tokenizer + processor_config.json (copied from the shared vision fixture, budget changed)
  prompt.json             the text, its ids as the processor emits them, mm_token_type_ids, image spans, per image
                          the processor facts (resized size, patch grid, soft-token count, sha256 of the valid
                          pixel rows as little-endian float32), generate()'s greedy tokens
  <image>.position_ids.i32  int32 [n_valid, 2] (x, y) of the valid patches
  <image>.pooled.f32      float32 [n_soft, D]: vision pooler output (after x sqrt(D), before standardize)
  <image>.embeds.f32      float32 [n_soft, H_text]: projected soft-token embeddings
  logits.f32              float32 [T, vocab]: one forward over the prompt with mm_token_type_ids (final logits)
  logits_causal.f32       (std_bidir only) the same forward with mm_token_type_ids all 0 (plain causal masks)
Usage: make_vision_fixtures.py SHARED_VISION_FIXTURE_DIR IMAGES_DIR OUT_DIR
"""
import hashlib
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
from PIL import Image
from transformers import AutoProcessor, Gemma4Config, Gemma4ForConditionalGeneration

from make_text_fixtures import ROPE, randomize  # the same weight distribution and RoPE layout as the text fixtures

IMAGES = ["chelsea.png", "llamacpp-mtmd-test-1-positive.png"]  # 451x300 landscape, 429x806 portrait RGBA
PROMPT = "<bos>Compare<|image|>with<|image|>: the first"

CONFIGS = {
    "std_bidir": dict(
        seed=41, max_soft_tokens=70,
        text=dict(vocab_size=400, hidden_size=48, intermediate_size=64, num_hidden_layers=6,
                  layer_types=["sliding_attention", "sliding_attention", "full_attention"] * 2,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=16, global_head_dim=32,
                  num_global_key_value_heads=1, sliding_window=24, num_kv_shared_layers=0,
                  hidden_size_per_layer_input=0, vocab_size_per_layer_input=400, use_double_wide_mlp=False,
                  attention_k_eq_v=True, enable_moe_block=False, use_bidirectional_attention="vision"),
        vision=dict(standardize=True, use_clipped_linears=False)),
    "e_clip140": dict(
        seed=42, max_soft_tokens=140,
        text=dict(vocab_size=400, hidden_size=48, intermediate_size=64, num_hidden_layers=5,
                  layer_types=["sliding_attention", "full_attention", "sliding_attention", "sliding_attention",
                               "full_attention"],
                  num_attention_heads=4, num_key_value_heads=1, head_dim=16, global_head_dim=32,
                  num_global_key_value_heads=None, sliding_window=7, num_kv_shared_layers=3,
                  hidden_size_per_layer_input=8, vocab_size_per_layer_input=400, use_double_wide_mlp=True,
                  attention_k_eq_v=False, enable_moe_block=False, use_bidirectional_attention=None),
        vision=dict(standardize=False, use_clipped_linears=True)),
}

VISION_BASE = dict(hidden_size=32, intermediate_size=80, num_hidden_layers=3, num_attention_heads=2,
                   num_key_value_heads=2, head_dim=16, patch_size=16, pooling_kernel_size=3,
                   position_embedding_size=64, rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh",
                   rope_parameters={"rope_theta": 100.0, "rope_type": "axial"})
TOP_IDS = dict(boi_token_id=4, eoi_token_id=5, image_token_id=6, boa_token_id=7, eoa_token_index=8,
               audio_token_id=9, video_token_id=10)


def clippable_modules(model):
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "input_max") and hasattr(m, "output_max")]


def calibrate_clamps(model, inputs):
    """Sets every clippable linear's bounds to 80% of the range seen on the prompt's images, so they clip."""
    mods = clippable_modules(model)
    seen = {}

    def hook(name):
        def fn(mod, args, out):
            x = args[0].detach()
            seen[name] = (float(x.min()), float(x.max()), float(out.min()), float(out.max()))
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in mods]
    with torch.no_grad():
        model(**inputs)
    for h in handles:
        h.remove()
    with torch.no_grad():
        for n, m in mods:
            imin, imax, omin, omax = seen[n]
            m.input_min.fill_(0.8 * imin)
            m.input_max.fill_(0.8 * imax)
            m.output_min.fill_(0.8 * omin)
            m.output_max.fill_(0.8 * omax)
    return len(mods)


def write_hf(model, spec, shared_dir, hf_dir):
    model.save_pretrained(hf_dir, safe_serialization=True)
    cfg_path = os.path.join(hf_dir, "config.json")
    with open(cfg_path) as f:
        saved = json.load(f)
    saved["text_config"].pop("per_layer_config", None)
    saved["text_config"]["global_head_dim"] = spec["text"]["global_head_dim"]
    saved["text_config"]["num_global_key_value_heads"] = spec["text"]["num_global_key_value_heads"]
    with open(cfg_path, "w") as f:
        json.dump(saved, f, indent=2)
    for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]:
        src = os.path.join(shared_dir, "hf", name)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(hf_dir, name))
    with open(os.path.join(shared_dir, "hf", "processor_config.json")) as f:
        proc = json.load(f)
    proc["image_processor"]["max_soft_tokens"] = spec["max_soft_tokens"]
    proc["image_seq_length"] = spec["max_soft_tokens"]
    with open(os.path.join(hf_dir, "processor_config.json"), "w") as f:
        json.dump(proc, f, indent=2)


def build_model(spec):
    text = dict(spec["text"])
    text.update(rope_parameters=ROPE, final_logit_softcapping=30.0, max_position_embeddings=4096,
                rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                pad_token_id=0, bos_token_id=2, eos_token_id=1)
    vision = dict(VISION_BASE)
    vision.update(spec["vision"])
    cfg = Gemma4Config(text_config=text, vision_config=vision, audio_config=None, **TOP_IDS)
    cfg._attn_implementation = "eager"
    model = Gemma4ForConditionalGeneration(cfg).eval().float()
    randomize(model, text.get("hidden_size_per_layer_input") or 1, torch.Generator().manual_seed(spec["seed"]))
    return model


def capture_vision(model, inputs):
    """Runs the model once and returns (pooled [sum n_soft, D], embeds [sum n_soft, H]) via hooks."""
    got = {}
    tower = model.model.vision_tower
    proj = model.model.embed_vision
    h1 = tower.register_forward_hook(lambda m, a, out: got.__setitem__("tower", out))
    h2 = proj.register_forward_hook(lambda m, a, out: got.__setitem__("proj", out))
    def pre(m, args, kwargs):
        x = args[0] if args else next(v for v in kwargs.values() if torch.is_tensor(v))
        got["proj_in"] = x

    h3 = proj.register_forward_pre_hook(pre, with_kwargs=True)
    with torch.no_grad():
        model(**inputs)
    for h in (h1, h2, h3):
        h.remove()
    return got


def flat(x):
    if hasattr(x, "last_hidden_state"):
        x = x.last_hidden_state
    if isinstance(x, (tuple, list)):
        x = x[0]
    return x.detach().float().reshape(-1, x.shape[-1]).numpy()


def reference(name, spec, shared_dir, images_dir, out_dir):
    folder = os.path.join(out_dir, name)
    hf_dir = os.path.join(folder, "hf")
    model = build_model(spec)
    write_hf(model, spec, shared_dir, hf_dir)  # processor files first (clamps saved again below)
    processor = AutoProcessor.from_pretrained(hf_dir)
    images = [Image.open(os.path.join(images_dir, f)) for f in IMAGES]
    inputs = processor(text=PROMPT, images=images, return_tensors="pt", add_special_tokens=False)
    inputs = {k: v for k, v in inputs.items()}
    notes = {}
    if spec["vision"]["use_clipped_linears"]:
        notes["calibrated_clippable_linears"] = calibrate_clamps(model, inputs)
        write_hf(model, spec, shared_dir, hf_dir)
    model = Gemma4ForConditionalGeneration.from_pretrained(hf_dir, attn_implementation="eager",
                                                           dtype=torch.float32).eval()
    ids = inputs["input_ids"][0].tolist()
    mm = inputs["mm_token_type_ids"][0].tolist()
    with torch.no_grad():
        logits = model(**inputs).logits[0].float().numpy()
    logits.astype("<f4").tofile(os.path.join(folder, "logits.f32"))
    if spec["text"]["use_bidirectional_attention"] == "vision":
        causal_inputs = dict(inputs)
        causal_inputs["mm_token_type_ids"] = torch.zeros_like(inputs["mm_token_type_ids"])
        with torch.no_grad():
            causal = model(**causal_inputs).logits[0].float().numpy()
        causal.astype("<f4").tofile(os.path.join(folder, "logits_causal.f32"))
        notes["max_abs_diff_bidirectional_vs_causal"] = float(np.abs(causal - logits).max())
    got = capture_vision(model, inputs)
    pooled_all = flat(got["proj_in"]) if "proj_in" in got else None
    embeds_all = flat(got["proj"])
    pix = inputs["pixel_values"].float().numpy()
    pos = inputs["image_position_ids"].numpy()
    per_image, offset, spans = [], 0, []
    runs, start = [], None
    for i, t in enumerate(ids):
        if t == 6 and start is None:
            start = i
        if t != 6 and start is not None:
            runs.append((start, i - start))
            start = None
    for k, fname in enumerate(IMAGES):
        stem = os.path.splitext(fname)[0]
        valid = pos[k][:, 0] >= 0
        n_valid = int(valid.sum())
        pv = np.ascontiguousarray(pix[k][valid].astype("<f4"))
        pos[k][valid].astype("<i4").tofile(os.path.join(folder, f"{stem}.position_ids.i32"))
        n_soft = runs[k][1]
        embeds_all[offset:offset + n_soft].astype("<f4").tofile(os.path.join(folder, f"{stem}.embeds.f32"))
        if pooled_all is not None and pooled_all.shape[0] == embeds_all.shape[0]:
            pooled_all[offset:offset + n_soft].astype("<f4").tofile(os.path.join(folder, f"{stem}.pooled.f32"))
        offset += n_soft
        cols = int(pos[k][valid][:, 0].max()) + 1
        rows = int(pos[k][valid][:, 1].max()) + 1
        per_image.append(dict(file=fname, size_wh=list(images[k].size), mode=images[k].mode,
                              patch_grid_hw=[rows, cols], n_valid_patches=n_valid, n_soft_tokens=n_soft,
                              pixel_values_sha256=hashlib.sha256(pv.tobytes()).hexdigest(),
                              pixel_values_sum=float(pv.astype(np.float64).sum())))
        spans.append(dict(boi=runs[k][0] - 1, first_soft=runs[k][0], n_soft=n_soft, eoi=runs[k][0] + n_soft))
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False, output_logits=True,
                             return_dict_in_generate=True)
    gen = out.sequences[0, len(ids):].tolist()
    first = out.logits[0][0].float().numpy()
    notes["max_abs_diff_generate_step0_vs_forward_last_row"] = float(np.abs(first - logits[-1]).max())
    with open(os.path.join(folder, "prompt.json"), "w") as f:
        json.dump(dict(text=PROMPT, tokens=ids, T=len(ids), mm_token_type_ids=mm, image_spans=spans,
                       images=per_image, max_soft_tokens=spec["max_soft_tokens"], generated_tokens=gen,
                       max_abs_logit=float(np.abs(logits).max()), notes=notes,
                       transformers_version=transformers.__version__, torch_version=torch.__version__),
                  f, indent=1)
    print(name, json.dumps(notes), [p["n_soft_tokens"] for p in per_image], flush=True)


def main():
    shared_dir, images_dir, out_dir = sys.argv[1:4]
    torch.use_deterministic_algorithms(True)
    for name, spec in CONFIGS.items():
        os.makedirs(os.path.join(out_dir, name), exist_ok=True)
        reference(name, spec, shared_dir, images_dir, out_dir)


if __name__ == "__main__":
    main()
