#!/usr/bin/env python3
"""Step 1 (here) and step 3 (here) of the real-model reference: Gemma 3 270M (Q4_K_M) and SmolLM2-135M (Q4_1).

The GGUF files are larger than what may travel to the GPU machine, and the transformers forward pass does not
need the whole embedding table, so:
  pack   reads models/*.gguf with the `gguf` package, tokenizes the reference prompts with HF `tokenizers`
         (Gemma 3: the official tokenizer.json from shared/assets; SmolLM2: a tokenizers BPE built from the GGUF's
         vocab + merges with SmolLM2's pre-tokenizer, Digits(individual) + ByteLevel), and writes one pack per model:
         meta.json (GGUF hyper-parameters, prompts and ids) + tensors.npz (every non-embedding tensor as its RAW
         quantized bytes, and the dequantized float32 embedding rows of the prompt tokens only). The packs are
         tarred and split into chunks small enough to travel (see real_model_reference.py for the GPU side).
  finish reads the normed final hidden states that real_model_reference.py computed with transformers, multiplies
         them by the tied embedding (dequantized by `gguf` here, float64) and writes the small fixtures under
         tests/data/real_models/: per prompt the token ids and, for every position, the reference top-k ids,
         logits and log-sum-exp.
  ppl-chunks / ppl-finish  the same for the perplexity reference: specula perplexity's chunks of the wikitext
         sample (tokenized with the HF tokenizers above) and the embedding rows they use go to the GPU machine; the
         hidden states of the scored positions come back and the perplexity is formed here.
Usage (then real_model_reference.py on the GPU machine, one chunk per call, see its docstring):
  .venv/bin/python tools/reference/real_model_pack.py pack && ... ppl-chunks && ... bundle
  .venv/bin/python tools/reference/real_model_pack.py finish --hidden DIR
  .venv/bin/python tools/reference/real_model_pack.py ppl-finish --hidden DIR
"""
import argparse
import io
import json
import os
import tarfile

import numpy as np
import gguf
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, AddedToken

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared")
WIKI = os.path.join(SHARED, "assets", "text", "wikitext-2-raw-test.hfsplit.crlf.txt")

MODELS = {
    "gemma3-270m": {
        "file": "models/gemma-3-270m-q4_k_m.gguf",
        "prompts": [
            ("capital", "The capital of France is"),
            ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n"),
            ("chat", "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n"),
            ("numbers", "Pi is 3.14159 and e is 2.71828; 12345 + 678 = 13023. Ünïcödé: 東京 ✓"),
            ("wiki_long", None),  # ~700 tokens of wikitext: crosses the 512-token sliding window
        ],
    },
    "smollm2-135m": {
        "file": "models/SmolLM2-135M-Instruct.Q4_1.gguf",
        "prompts": [
            ("capital", "The capital of France is"),
            ("chat", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                     "<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"),
            ("numbers", "Pi is 3.14159 and e is 2.71828; 12345 + 678 = 13023. Ünïcödé: 東京 ✓"),
            ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n"),
            ("wiki", None),  # ~300 tokens of wikitext
        ],
    },
}


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode()
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode() for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    return f.parts[f.data[0]].tolist()[0]


def gemma3_tokenizer():
    path = "/tmp/gemma3-tokenizer.json"
    if not os.path.exists(path):
        import lzma
        with lzma.open(os.path.join(SHARED, "assets", "gemma", "gemma3-tokenizer.json.xz")) as f, open(path, "wb") as o:
            o.write(f.read())
    return Tokenizer.from_file(path)


def smollm2_tokenizer(reader):
    """SmolLM2's HF tokenizer rebuilt from the GGUF: BPE over byte-level pieces, Digits + ByteLevel pre-split."""
    tokens = field(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field(reader, "tokenizer.ggml.merges")]
    types = field(reader, "tokenizer.ggml.token_type")
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges, ignore_merges=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    return tok


def wiki_text(n_chars):
    with open(WIKI, encoding="utf-8", newline="") as f:
        text = f.read(40000)
    start = text.index(" = Robert Boulter = ") if " = Robert Boulter = " in text else 0
    return text[start:start + n_chars]


def prompts_for(name, reader):
    out = []
    tok = gemma3_tokenizer() if name.startswith("gemma3") else smollm2_tokenizer(reader)
    for pname, text in MODELS[name]["prompts"]:
        if text is None:
            text = wiki_text(2600 if name.startswith("gemma3") else 1200)
        ids = tok.encode(text, add_special_tokens=name.startswith("gemma3")).ids
        out.append({"name": pname, "text": text, "ids": ids})
    return out


def pack_model(name, out_dir):
    spec = MODELS[name]
    reader = gguf.GGUFReader(os.path.join(ROOT, spec["file"]))
    arch = field(reader, "general.architecture")
    meta = {"name": name, "file": spec["file"], "arch": arch, "hparams": {}, "tensors": {}}
    for key in reader.fields:
        if key.startswith(arch + "."):
            meta["hparams"][key[len(arch) + 1:]] = field(reader, key)
    meta["prompts"] = prompts_for(name, reader)
    used = sorted({i for p in meta["prompts"] for i in p["ids"]})
    meta["embedding_ids"] = used
    arrays = {}
    for t in reader.tensors:
        if t.name == "token_embd.weight":
            rows = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1, int(t.shape[0]))
            arrays["token_embd.rows"] = rows[used].astype(np.float32)
            meta["vocab"] = int(rows.shape[0])
            continue
        arrays[t.name] = np.ascontiguousarray(t.data).view(np.uint8).reshape(-1)
        meta["tensors"][t.name] = {"type": int(t.tensor_type), "shape": [int(x) for x in t.shape]}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return meta, buf.getvalue()


def cmd_pack(args):
    """Writes OUT/src/<model>/{meta.json,tensors.npz}."""
    for name in MODELS:
        meta, npz = pack_model(name, args.out)
        folder = os.path.join(args.out, "src", name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "meta.json"), "w") as f:
            json.dump(meta, f)
        with open(os.path.join(folder, "tensors.npz"), "wb") as f:
            f.write(npz)
        print(name, "prompt lengths", [len(p["ids"]) for p in meta["prompts"]], "tensors bytes", len(npz))


def ppl_tokens(name, reader):
    """specula perplexity's token stream: the text tokenized without specials, BOS first; chunk[0] := BOS."""
    with open(WIKI, "rb") as f:
        text = f.read(100000).decode("utf-8", errors="ignore")
    if name.startswith("gemma3"):
        ids, bos = gemma3_tokenizer().encode(text, add_special_tokens=False).ids, 2
    else:
        ids, bos = smollm2_tokenizer(reader).encode(text, add_special_tokens=False).ids, 1
    return [bos] + ids, bos


def cmd_ppl_chunks(args):
    """Writes OUT/src/ppl/<model>.chunks.json and <model>.rows.npz (dequantized embedding rows of every id used)."""
    folder = os.path.join(args.out, "src", "ppl")
    os.makedirs(folder, exist_ok=True)
    for name, spec in MODELS.items():
        reader = gguf.GGUFReader(os.path.join(ROOT, spec["file"]))
        tokens, bos = ppl_tokens(name, reader)
        n = len(tokens) // args.ctx
        chunks = []
        for c in range(n):
            chunk = tokens[c * args.ctx:(c + 1) * args.ctx]
            chunk[0] = bos
            chunks.append(chunk)
        ids = sorted({t for c in chunks for t in c})
        emb = next(t for t in reader.tensors if t.name == "token_embd.weight")
        rows = gguf.quants.dequantize(emb.data, emb.tensor_type).reshape(-1, int(emb.shape[0]))[ids]
        np.savez(os.path.join(folder, f"{name}.rows.npz"), rows=rows.astype(np.float32))
        with open(os.path.join(folder, f"{name}.chunks.json"), "w") as f:
            json.dump({"n_tokens": len(tokens), "chunks": chunks}, f)
        print(name, len(tokens), "tokens,", n, "chunks,", len(ids), "distinct ids")


def cmd_bundle(args):
    """Tars OUT/src and splits it into OUT/c<i>/pack.tar.part chunks that may travel one per call."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(os.path.join(args.out, "src"), arcname=".")
    data = buf.getvalue()
    chunk = args.chunk_mib << 20
    n = 0
    for i in range(0, len(data), chunk):
        part = os.path.join(args.out, f"c{n}", "pack.tar.part")
        os.makedirs(os.path.dirname(part), exist_ok=True)
        with open(part, "wb") as f:
            f.write(data[i:i + chunk])
        n += 1
    print(f"{len(data)} bytes in {n} chunks under {args.out}/c*/")


def cmd_ppl_finish(args):
    """Reference perplexity from the transformers hidden states: logits = h . E (tied embedding), float64 sums."""
    results = {}
    for name, spec in MODELS.items():
        reader = gguf.GGUFReader(os.path.join(ROOT, spec["file"]))
        tokens, bos = ppl_tokens(name, reader)
        chunks = json.load(open(os.path.join(args.out, "src", "ppl", f"{name}.chunks.json")))["chunks"]
        emb = next(t for t in reader.tensors if t.name == "token_embd.weight")
        table = gguf.quants.dequantize(emb.data, emb.tensor_type).reshape(-1, int(emb.shape[0])).astype(np.float32)
        hidden = np.load(os.path.join(args.hidden, f"{name}.ppl_hidden.npy")).astype(np.float32)
        n_ctx = len(chunks[0])
        nll, running = [], []
        for c, chunk in enumerate(chunks):
            logits = (hidden[c] @ table.T).astype(np.float64)
            mx = logits.max(axis=1, keepdims=True)
            lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))
            targets = np.array(chunk[n_ctx // 2 + 1:n_ctx])
            nll.extend((lse - logits[np.arange(len(targets)), targets]).tolist())
            running.append(round(float(np.exp(np.mean(nll))), 4))
        nll = np.array(nll)
        ppl = float(np.exp(nll.mean()))
        err = float(ppl * nll.std() / np.sqrt(len(nll) - 1))
        results[name] = {"n_tokens": len(tokens), "n_chunks": len(chunks), "n_ctx": n_ctx, "ppl": ppl,
                         "ppl_error": err, "running_ppl": running}
        print(name, results[name])
    with open(os.path.join(ROOT, "tests", "data", "real_models", "perplexity_reference.json"), "w") as f:
        json.dump({"about": "transformers float32 (hidden states stored as float16) on the GGUF weights; first 100000 "
                            "bytes of wikitext-2-raw-test.hfsplit.crlf.txt, specula perplexity's chunking (BOS first "
                            "in every chunk, second half scored)", "models": results}, f, indent=1)


def cmd_finish(args):
    os.makedirs(args.out, exist_ok=True)
    for name, spec in MODELS.items():
        meta = json.load(open(os.path.join(args.hidden, f"{name}.json")))
        reader = gguf.GGUFReader(os.path.join(ROOT, spec["file"]))
        emb = next(t for t in reader.tensors if t.name == "token_embd.weight")
        table = gguf.quants.dequantize(emb.data, emb.tensor_type).reshape(-1, int(emb.shape[0])).astype(np.float64)
        hidden = np.load(os.path.join(args.hidden, f"{name}.npz"))
        cases = []
        for p in meta["prompts"]:
            h = hidden[p["name"]].astype(np.float64)
            logits = h @ table.T
            top = np.argsort(-logits, axis=1)[:, :args.top_k]
            mx = logits.max(axis=1, keepdims=True)
            lse = (mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1)))
            cases.append({"name": p["name"], "text": p["text"], "ids": p["ids"],
                          "top_ids": top.tolist(),
                          "top_logits": np.round(np.take_along_axis(logits, top, axis=1), 5).tolist(),
                          "logsumexp": np.round(lse, 5).tolist()})
        out = {"model": name, "file": spec["file"], "reference": meta["reference"], "cases": cases}
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(out, f, separators=(",", ":"))
        print(name, "written")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("pack", "ppl-chunks", "bundle", "ppl-finish"):
        p = sub.add_parser(name)
        p.add_argument("--out", default=os.path.join(ROOT, ".ref_real"))
        p.add_argument("--chunk-mib", type=int, default=56)
        p.add_argument("--ctx", type=int, default=512)
        p.add_argument("--hidden", default=os.path.join(ROOT, ".ref_real", "out"))
    f = sub.add_parser("finish")
    f.add_argument("--hidden", required=True)
    f.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "real_models"))
    f.add_argument("--top-k", type=int, default=8)
    args = ap.parse_args()
    {"pack": cmd_pack, "ppl-chunks": cmd_ppl_chunks, "bundle": cmd_bundle, "ppl-finish": cmd_ppl_finish,
     "finish": cmd_finish}[args.cmd](args)


if __name__ == "__main__":
    main()
