#!/usr/bin/env python3
"""Randomized tokenizer cross-check cases from HuggingFace `tokenizers` (the Gemma 3 tokenizer.json).

Gemma 3 and Gemma 4 share the text vocabulary: the script first checks that every piece id of the
Gemma 3 tokenizer.json agrees with the Gemma 4 GGUF vocabulary (read with the `gguf` package) outside the
special/unused ranges, and that the merge lists are identical. It then generates strings with a fixed seed
(mixed scripts, whitespace runs, emoji, random code points, markup, code, numbers), encodes each with HF
`tokenizers` (no special tokens added) and writes one JSON object per line: {"text": ..., "ids": [...]}.

Strings are kept away from text that HF would match as a Gemma-3-only added token (<start_of_turn>,
<unusedN>, <start_of_image>, ...): those pieces are different tokens (or absent) in Gemma 4. Every expected
id is checked to name the same piece in both vocabularies, so the expected ids are valid Gemma 4 ids.

HF matches the added tokens (newline/tab/U+2581 runs, HTML tags, <unusedN>) on the raw text before BPE; the
C++ tokenizer does the same (src/tokenizer/presplit.h), which llama.cpp's gemma4 tokenizer does not.

Usage: .venv/bin/python tools/reference/tokenizer_hf_cases.py --shared ../shared --gemma4-gguf G4.gguf \
           --out tests/data/tokenizer/gemma_hf_cases.jsonl.xz [--count 3000] [--seed 20260401]
(G4.gguf: ggml-vocab-gemma-4.gguf decompressed from shared/assets/llamacpp-vocab/ggml-vocab-gemma-4.gguf.xz)
"""
import argparse
import json
import lzma
import os
import random

import gguf
from tokenizers import Tokenizer

SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "accented": "àáâäãåæçèéêëìíîïñòóôöõøùúûüýÿßœÀÉÎÖÜŁłŠšŽžĞğİıȘșȚț",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώ",
    "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可",
    "kana": "あいうえおかきくけこさしすせそたちつてとなにぬねのアイウエオカキクケコサシスセソ",
    "hangul": "가나다라마바사아자차카타파하한국어안녕하세요감사합니다",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "devanagari": "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह्ािीुूेैोौं",
    "thai": "กขคงจฉชซญดตถทนบปผพฟภมยรลวศษสหอฮะาิีึืุูเแโใไ่้๊๋",
    "digits": "0123456789",
    "punct": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»…–—‘’“”•·",
}
EMOJI = ["😀", "😂", "🥲", "🤖", "🦙", "🚀", "✅", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "😶‍🌫️",
         "🧑🏿‍💻", "☕", "⭐", "🔥", "🎉", "💯"]
WHITESPACE = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", " \n", "\n ", " \t ",
              "\u00a0", "\u3000", "\u2009", "\r"]
MARKUP = ["<div class=\"x\">", "</div>", "<p>", "</p>", "<br/>", "<a href='#'>", "</a>", "**bold**", "_it_",
          "# Title", "## Sub", "- item", "1. first", "> quote", "`code`", "```python\n", "\n```", "| a | b |",
          "|---|---|", "[link](http://example.com)", "&amp;", "&lt;", "<!-- c -->", "{\"k\": [1, 2]}",
          "<table>", "<td>", "</td>", "<b>", "</b>", "<h1>", "</h1>", "<li>", "<code>", "<s>", "</s>"]
CODE = ["def f(x):\n    return x + 1\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
        "if x != None and y >= 3:\n        pass", "#include <stdio.h>\nint main() { return 0; }",
        "const y = arr.map((v) => v * 2);", "SELECT * FROM t WHERE id = 42;", "  x  =  [1,2 ,3]  ",
        "fn main() -> Result<(), Box<dyn Error>> {", "    \t  mixed_indent", "a==b!=c<=d>=e->f::g",
        "λx. x @ y ~ z", "$HOME/.config/*.json", "0x1F 0b1010 1e-9 3.14159 -0.0"]


def random_codepoint(rng):
    # A valid Unicode scalar value (no surrogates), biased towards the planes text uses.
    while True:
        plane = rng.random()
        if plane < 0.6:
            cp = rng.randint(0x20, 0xFFFF)
        elif plane < 0.9:
            cp = rng.randint(0x10000, 0x2FFFF)
        else:
            cp = rng.randint(0x30000, 0x10FFFF)
        if not (0xD800 <= cp <= 0xDFFF):
            return chr(cp)


def word(rng, script):
    chars = SCRIPTS[script]
    return "".join(rng.choice(chars) for _ in range(rng.randint(1, 9)))


def piece(rng):
    kind = rng.random()
    if kind < 0.45:
        return word(rng, rng.choice(list(SCRIPTS)))
    if kind < 0.60:
        return rng.choice(WHITESPACE)
    if kind < 0.68:
        return rng.choice(EMOJI)
    if kind < 0.76:
        return "".join(random_codepoint(rng) for _ in range(rng.randint(1, 4)))
    if kind < 0.86:
        return rng.choice(MARKUP)
    if kind < 0.94:
        return rng.choice(CODE)
    return str(rng.randint(0, 10 ** rng.randint(1, 12)))


def make_string(rng):
    style = rng.random()
    if style < 0.1:  # whitespace soup
        return "".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 12)))
    if style < 0.2:  # random code points only
        return "".join(random_codepoint(rng) for _ in range(rng.randint(1, 24)))
    parts = []
    for _ in range(rng.randint(1, 14)):
        parts.append(piece(rng))
        if rng.random() < 0.6:
            parts.append(" ")
    return "".join(parts)


def gguf_strings(reader, key):
    field = reader.fields[key]
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
    ap.add_argument("--gemma4-gguf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20260401)
    args = ap.parse_args()

    with lzma.open(os.path.join(args.shared, "assets/gemma/gemma3-tokenizer.json.xz"), "rt", encoding="utf-8") as f:
        hf_json = f.read()
    tok = Tokenizer.from_str(hf_json)
    hf = json.loads(hf_json)
    hf_vocab = {i: t for t, i in hf["model"]["vocab"].items()}

    reader = gguf.GGUFReader(args.gemma4_gguf)
    g4_pieces = gguf_strings(reader, "tokenizer.ggml.tokens")
    g4_merges = gguf_strings(reader, "tokenizer.ggml.merges")
    differing = [i for i in range(len(g4_pieces)) if hf_vocab.get(i) != g4_pieces[i]]
    hf_merges = [" ".join(m) if isinstance(m, list) else m for m in hf["model"]["merges"]]
    assert hf_merges == g4_merges, "merge lists differ"
    print(f"vocab: {len(g4_pieces)} pieces, {len(differing)} differ (ids {differing[0]}..{differing[-1]}), "
          f"{len(g4_merges)} identical merges")
    assert all(46 <= i <= 106 or i >= 255999 for i in differing), "ordinary piece ids disagree"

    # Text that HF matches as an added token that Gemma 4 lacks or numbers differently.
    hf_only = [a["content"] for a in hf["added_tokens"]
               if a["id"] >= len(g4_pieces) or hf_vocab.get(a["id"]) != g4_pieces[a["id"]]]
    hf_only += [a["content"] for a in hf["added_tokens"] if a["special"]]

    rng = random.Random(args.seed)
    n_written = 0
    with lzma.open(args.out, "wt", encoding="utf-8", preset=9) as out:
        while n_written < args.count:
            text = make_string(rng)
            if any(s in text for s in hf_only):
                continue
            ids = tok.encode(text, add_special_tokens=False).ids
            assert all(hf_vocab[i] == g4_pieces[i] for i in ids), f"id outside the shared vocabulary for {text!r}"
            out.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=False) + "\n")
            n_written += 1
    print(f"wrote {n_written} cases to {args.out}")


if __name__ == "__main__":
    main()
