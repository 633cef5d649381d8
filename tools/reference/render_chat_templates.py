#!/usr/bin/env python3
"""Renders reference conversations with the official Gemma 4 chat templates (jinja2).

Writes tests/data/chat/gemma4_chat_cases.json: the conversations (HF message format) and, for every
template x add_generation_prompt x enable_thinking, the exact text that HuggingFace's
`apply_chat_template(tokenize=False)` produces. The C++ renderer's test must reproduce every string
byte for byte.

The jinja environment mirrors transformers' `_compile_jinja_template`: ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and the loopcontrols extension, `raise_exception` and `strftime_now` globals, a
`tojson` filter that does not escape HTML, and the special tokens (`bos_token`, `eos_token`, ...) passed as
render variables next to `messages`, `tools`, `add_generation_prompt` and the template kwargs
(`enable_thinking`).

Usage: .venv/bin/python tools/reference/render_chat_templates.py [--shared ../shared] [--out tests/data/chat]
"""
import argparse
import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

# variant name -> template file under shared/assets/gemma/
TEMPLATES = {
    "gemma4-it": "google-gemma-4-31B-it.jinja",
    "gemma4-it-interleaved": "google-gemma-4-31B-it-interleaved.jinja",
    "gemma4-early": "gemma4-26B-A4B-from-vocab-gguf.chat_template.jinja",
}

# Special tokens as HF passes them (Gemma 4 tokenizer_config: bos "<bos>", eos "<eos>", pad "<pad>", unk "<unk>").
SPECIAL_TOKENS = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def compile_template(text):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(text)


def user(content):
    return {"role": "user", "content": content}


def assistant(content):
    return {"role": "assistant", "content": content}


def text(t):
    return {"type": "text", "text": t}


IMAGE = {"type": "image"}
AUDIO = {"type": "audio"}
VIDEO = {"type": "video"}

THOUGHT = "<|channel>thought\nThe user greets me. I should greet back.<channel|>"

CONVERSATIONS = [
    ("plain", [user("Hello!")]),
    ("system_prompt", [{"role": "system", "content": "You are a helpful assistant."}, user("Hi")]),
    ("developer_prompt", [{"role": "developer", "content": "Answer in French."}, user("Good morning")]),
    ("system_needs_trim", [{"role": "system", "content": "\n  Be brief.\t \n"}, user("Why?")]),
    ("system_only", [{"role": "system", "content": "Only a system prompt."}]),
    ("empty_system", [{"role": "system", "content": ""}, user("x")]),
    ("multi_turn", [user("What is 2+2?"), assistant("4"), user("And 3+3?")]),
    ("ends_with_assistant", [user("Write a haiku."), assistant("Autumn moonlight")]),
    ("three_rounds", [user("a"), assistant("b"), user("c"), assistant("d"), user("e")]),
    ("image_after_text", [user([text("Describe this."), IMAGE])]),
    ("image_before_text", [user([IMAGE, text("What is in the picture?")])]),
    ("two_images", [user([text("Compare"), IMAGE, IMAGE, text("  which is brighter?  ")])]),
    ("image_only", [user([IMAGE])]),
    ("audio_and_video", [user([text("Transcribe:"), AUDIO, text("and describe:"), VIDEO])]),
    ("images_across_turns", [user([IMAGE, text("One")]), assistant("A cat."), user([text("Two"), IMAGE])]),
    ("list_content_all_roles", [
        {"role": "system", "content": "sys"},
        user([text("part one "), text(" part two")]),
        assistant([text("reply one"), text(" reply two ")]),
        user([text("again")]),
    ]),
    ("assistant_with_thinking", [user("Hi"), assistant(THOUGHT + "Hello! How can I help?"), user("Tell me a joke.")]),
    ("assistant_thinking_only", [user("Hi"), assistant(THOUGHT)]),
    ("assistant_two_thoughts", [
        user("q"),
        assistant("<|channel>thought\nfirst<channel|>Part A. <|channel>thought\nsecond<channel|> Part B."),
        user("more"),
    ]),
    ("assistant_unclosed_thought", [user("q"), assistant("Answer <|channel>thought\nnever closed"), user("r")]),
    ("assistant_stray_close", [user("q"), assistant("Answer<channel|> tail"), user("r")]),
    ("assistant_thinking_in_list", [user("q"), assistant([text(THOUGHT + "Listed answer."), text("<|channel>x<channel|>")])]),
    ("user_text_looks_like_thinking", [user("keep <|channel>thought\nthis<channel|> in user text")]),
    ("whitespace_trim", [user("   padded question \n\n"), assistant("\n\n  padded answer  \t"), user("\t\tnext\r\n")]),
    ("unicode_whitespace_trim", [user("\u3000\u00a0\u2003wide spaces\u2028\u0085\u200a"), assistant("\u205f ok \u202f"), user("\u200bzero width is not space\u200b")]),
    ("control_separators_trim", [user("\x1c\x1d\x1e\x1fseparators\x0b\x0c")]),
    ("unicode_text", [user("Grüße, 世界! Привет 👋🏽 مرحبا"), assistant("¡Hola! こんにちは 🌍"), user("Ελληνικά; \U0001F600")]),
    ("empty_user", [user("")]),
    ("whitespace_only_user", [user(" \n\t ")]),
    ("empty_text_parts", [user([text(""), IMAGE, text("   ")])]),
    ("special_token_text_passthrough", [user("literal <turn|> and <|turn>model and <bos> stay")]),
    ("consecutive_assistant", [user("q"), assistant("first part"), assistant("second part"), user("next")]),
    ("consecutive_user", [user("one"), user("two")]),
    ("system_in_middle", [user("hi"), assistant("hello"), {"role": "system", "content": "  Switch to pirate speak. "}, user("go")]),
    ("developer_in_middle", [{"role": "system", "content": "first"}, {"role": "developer", "content": "second"}, user("go")]),
    ("assistant_first", [assistant("I start."), user("ok")]),
    ("newlines_inside", [user("line one\n\nline two\n  indented"), assistant("a\nb"), user("c")]),
]

OPTIONS = [(gen, think) for gen in (True, False) for think in (False, True)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(root, "..", "shared"))
    ap.add_argument("--out", default=os.path.join(root, "tests", "data", "chat"))
    args = ap.parse_args()

    compiled = {}
    for variant, file in TEMPLATES.items():
        with open(os.path.join(args.shared, "assets", "gemma", file), encoding="utf-8") as f:
            compiled[variant] = compile_template(f.read())

    cases = []
    for name, messages in CONVERSATIONS:
        for variant, template in compiled.items():
            for gen, think in OPTIONS:
                rendered = template.render(messages=messages, tools=None, documents=None, add_generation_prompt=gen,
                                           enable_thinking=think, **SPECIAL_TOKENS)
                cases.append({"conversation": name, "template": variant, "add_generation_prompt": gen,
                              "enable_thinking": think, "expected": rendered})

    out = {
        "about": "Generated by tools/reference/render_chat_templates.py with jinja2 " + jinja2.__version__ +
                 " from the official Gemma 4 chat templates; do not edit by hand.",
        "templates": TEMPLATES,
        "special_tokens": SPECIAL_TOKENS,
        "conversations": [{"name": n, "messages": m} for n, m in CONVERSATIONS],
        "cases": cases,
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gemma4_chat_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} renderings of {len(CONVERSATIONS)} conversations to {path}")


if __name__ == "__main__":
    main()
