#!/usr/bin/env python3
"""Step 2 (GPU machine) of the real-model reference: transformers' Gemma3ForCausalLM and LlamaForCausalLM on the
weights of the real GGUF files, dequantized with the `gguf` package.

Input: the packs written by real_model_pack.py (meta.json + tensors.npz per model). Every tensor is dequantized
with gguf.quants.dequantize and mapped back onto the HF parameter names, undoing what llama.cpp's converter did:
  * gemma3: RMSNorm weights were stored as (1 + w) (HF's Gemma3RMSNorm multiplies by 1 + w), so w = stored - 1;
            no Q/K permutation.
  * llama:  Q and K rows were permuted for ggml's interleaved RoPE; the inverse permutation restores HF's
            rotate_half layout.
The embedding holds only the rows of the prompt tokens (ids remapped); the model's normed final hidden states
are written out and the logits are formed on the other side (tied embedding, real_model_pack.py finish).
Runs on the CPU in float32 with eager attention (deterministic). Also copies transformers' Gemma 3 / llama
modeling sources next to the results, so the architecture notes can be checked against them.
Usage: python3 real_model_reference.py PACK_DIR OUT_DIR [PPL_CHUNKS_DIR]
  With PPL_CHUNKS_DIR (written by real_model_pack.py ppl-chunks): the hidden states for the perplexity reference.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
import gguf


def dequant(raw, info):
    qtype = gguf.GGMLQuantizationType(info["type"])
    shape = info["shape"]  # ggml order: ne0 (columns) first
    if qtype == gguf.GGMLQuantizationType.F32:
        arr = raw.view(np.float32)
    elif qtype == gguf.GGMLQuantizationType.F16:
        arr = raw.view(np.float16).astype(np.float32)
    else:
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        rows = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        arr = gguf.quants.dequantize(raw.reshape(rows, -1), qtype)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32).reshape(list(reversed(shape))))


def unpermute(w, n_head):
    """Inverse of llama.cpp's LlamaModel.permute (rows of a Q or K projection)."""
    out_dim = w.shape[0]
    return w.reshape(n_head, out_dim // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gemma3_model(meta, n_emb):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    hp = meta["hparams"]
    n_layers = hp["block_count"]
    # GGUF carries no sliding-window pattern for gemma3: every 6th layer is global (llama.cpp and HF's default).
    layer_types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n_layers)]
    rope = {"full_attention": {"rope_type": "default", "rope_theta": float(hp["rope.freq_base"])},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
    cfg = Gemma3TextConfig(vocab_size=n_emb, hidden_size=hp["embedding_length"],
                           intermediate_size=hp["feed_forward_length"], num_hidden_layers=n_layers,
                           num_attention_heads=hp["attention.head_count"],
                           num_key_value_heads=hp["attention.head_count_kv"], head_dim=hp["attention.key_length"],
                           rms_norm_eps=hp["attention.layer_norm_rms_epsilon"],
                           query_pre_attn_scalar=hp["attention.key_length"], sliding_window=hp["attention.sliding_window"],
                           layer_types=layer_types, rope_parameters=rope, max_position_embeddings=hp["context_length"],
                           final_logit_softcapping=None, attn_logit_softcapping=None,
                           hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                           pad_token_id=0, bos_token_id=2, eos_token_id=1)
    cfg._attn_implementation = "eager"
    return Gemma3ForCausalLM(cfg).eval().float(), cfg


def llama_model(meta, n_emb):
    from transformers import LlamaForCausalLM, LlamaConfig
    hp = meta["hparams"]
    cfg = LlamaConfig(vocab_size=n_emb, hidden_size=hp["embedding_length"], intermediate_size=hp["feed_forward_length"],
                      num_hidden_layers=hp["block_count"], num_attention_heads=hp["attention.head_count"],
                      num_key_value_heads=hp["attention.head_count_kv"], rms_norm_eps=hp["attention.layer_norm_rms_epsilon"],
                      rope_parameters={"rope_type": "default", "rope_theta": float(hp["rope.freq_base"])},
                      max_position_embeddings=hp["context_length"], hidden_act="silu", tie_word_embeddings=True,
                      attention_bias=False, mlp_bias=False, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = "eager"
    return LlamaForCausalLM(cfg).eval().float(), cfg


GEMMA3_NAMES = {
    "attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm",
    "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
}
COMMON_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
LLAMA_NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}


def hf_state(meta, npz, arch):
    hp = meta["hparams"]
    state = {"model.embed_tokens.weight": torch.from_numpy(npz["token_embd.rows"])}
    names = dict(COMMON_NAMES, **(GEMMA3_NAMES if arch == "gemma3" else LLAMA_NAMES))
    for gname, info in meta["tensors"].items():
        w = dequant(npz[gname], info)
        if gname == "output_norm.weight":
            hname = "model.norm.weight"
        else:
            _, i, base, _ = gname.split(".")
            hname = f"model.layers.{i}.{names[base]}.weight"
            if arch == "llama" and base == "attn_q":
                w = unpermute(w, hp["attention.head_count"])
            if arch == "llama" and base == "attn_k":
                w = unpermute(w, hp["attention.head_count_kv"])
        if arch == "gemma3" and gname.endswith("norm.weight"):
            w = w - 1.0  # the converter stored 1 + w
        state[hname] = w
    return state


def run_model(pack_dir, name, out_dir):
    meta = json.load(open(os.path.join(pack_dir, name, "meta.json")))
    npz = np.load(os.path.join(pack_dir, name, "tensors.npz"))
    ids_map = {t: i for i, t in enumerate(meta["embedding_ids"])}
    n_emb = len(meta["embedding_ids"])
    arch = meta["arch"]
    model, cfg = (gemma3_model if arch == "gemma3" else llama_model)(meta, n_emb)
    state = hf_state(meta, npz, arch)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if m != "lm_head.weight"]
    if missing or unexpected:
        raise RuntimeError(f"{name}: missing {missing} unexpected {unexpected}")
    hidden = {}
    with torch.no_grad():
        for p in meta["prompts"]:
            ids = torch.tensor([[ids_map[t] for t in p["ids"]]])
            out = model.model(input_ids=ids)
            hidden[p["name"]] = out.last_hidden_state[0].float().numpy()
            print(name, p["name"], len(p["ids"]), "tokens", flush=True)
    if arch == "gemma3":
        # Cross-check of the norm convention: the same weights with the stored norms taken as w (no "- 1").
        state_raw = {k: (v + 1.0 if k.endswith("norm.weight") else v) for k, v in state.items()}
        model.load_state_dict(state_raw, strict=False)
        with torch.no_grad():
            p = meta["prompts"][0]
            ids = torch.tensor([[ids_map[t] for t in p["ids"]]])
            hidden[p["name"] + "_norm_unshifted"] = model.model(input_ids=ids).last_hidden_state[0].float().numpy()
    np.savez(os.path.join(out_dir, f"{name}.npz"), **hidden)
    meta_out = {"prompts": [{"name": p["name"], "text": p["text"], "ids": p["ids"]} for p in meta["prompts"]],
                "reference": {"transformers": transformers.__version__, "torch": torch.__version__,
                              "gguf": getattr(gguf, "__version__", "0.19.0"), "dtype": "float32",
                              "attn": "eager", "config": cfg.to_dict()}}
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(meta_out, f, default=str)


def run_ppl(pack_dir, name, out_dir, chunks):
    """Normed final hidden states of the scored positions (n_ctx/2 .. n_ctx-2) of every perplexity chunk, float16.

    Runs on the GPU when there is one, in float32 with TF32 off (the logits are formed on the other side)."""
    meta = json.load(open(os.path.join(pack_dir, name, "meta.json")))
    npz = np.load(os.path.join(pack_dir, name, "tensors.npz"))
    arch = meta["arch"]
    # The embedding rows of every token of the chunks (the pack holds only the prompts' rows; the perplexity
    # text's rows travel in the chunk file).
    ids = sorted({t for c in chunks["chunks"] for t in c})
    ids_map = {t: i for i, t in enumerate(ids)}
    model, _ = (gemma3_model if arch == "gemma3" else llama_model)(meta, len(ids))
    state = hf_state(meta, npz, arch)
    state["model.embed_tokens.weight"] = torch.from_numpy(np.load(chunks["rows_file"])["rows"])
    model.load_state_dict(state, strict=False)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = model.to(dev)
    n_ctx = len(chunks["chunks"][0])
    out = []
    with torch.no_grad():
        for c in chunks["chunks"]:
            x = torch.tensor([[ids_map[t] for t in c]], device=dev)
            h = model.model(input_ids=x).last_hidden_state[0, n_ctx // 2:n_ctx - 1]
            out.append(h.float().cpu().numpy().astype(np.float16))
    np.save(os.path.join(out_dir, f"{name}.ppl_hidden.npy"), np.stack(out))
    print(name, "perplexity hidden states for", len(out), "chunks on", dev, flush=True)


def main():
    pack_dir, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    if len(sys.argv) > 3:  # perplexity mode: CHUNKS_DIR with <model>.chunks.json and <model>.rows.npz
        for name in ("gemma3-270m", "smollm2-135m"):
            chunks = json.load(open(os.path.join(sys.argv[3], f"{name}.chunks.json")))
            chunks["rows_file"] = os.path.join(sys.argv[3], f"{name}.rows.npz")
            run_ppl(pack_dir, name, out_dir, chunks)
        return
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(8)
    for mod in ("gemma3.modeling_gemma3", "llama.modeling_llama"):
        src = os.path.join(os.path.dirname(transformers.__file__), "models", *mod.split(".")) + ".py"
        if os.path.exists(src):
            shutil.copy(src, os.path.join(out_dir, os.path.basename(src) + ".txt"))
    failed = False
    for name in ("gemma3-270m", "smollm2-135m"):
        try:
            run_model(pack_dir, name, out_dir)
        except Exception as e:  # keep going: the other model's reference is still useful
            import traceback
            traceback.print_exc()
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
