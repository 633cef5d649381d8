"""MTP and images together in `specula run`: the greedy output of a two-image prompt is the same with the MTP
assistant, with n-gram drafting and without speculation, for every KV cache type pair the tiny synth model can hold
(the random assistant's drafts are all rejected, which exercises verify and rollback over image KV; n-gram drafts are
partly accepted). Models: synth tiny + tiny-mmproj + tiny-assistant (head dims 64/128, so every codec applies)."""
import os
import re
import subprocess
from pathlib import Path

import pytest

SPECULA = os.environ["SPECULA_BIN"]
SHARED = Path(os.environ["SPECULA_SHARED_DIR"])
IMAGES = [str(SHARED / "assets" / "images" / n) for n in ["coffee.png", "llamacpp-mtmd-test-1-positive.png"]]


def specula(*args):
    r = subprocess.run([SPECULA, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("vision_mtp")
    out = {}
    for name, preset in [("text", "tiny"), ("mmproj", "tiny-mmproj"), ("asst", "tiny-assistant")]:
        out[name] = d / f"{name}.gguf"
        specula("synth", "--preset", preset, "-o", out[name], "-q")
    return out


def greedy(models, codec, *extra):
    args = ["run", "-m", models["text"], "--mmproj", models["mmproj"], "-p", "Compare <|image|> with <|image|>.",
            "-n", "12", "--temp", "0", "--print-ids", "-ctk", codec[0], "-ctv", codec[1], "-t", "2", *extra]
    for image in IMAGES:
        args += ["--image", image]
    r = specula(*args)
    ids = r.stdout.strip().splitlines()[-1].split()
    assert len(ids) == 12, r.stdout
    return ids, r.stderr


@pytest.mark.parametrize("codec", [("f32", "f32"), ("q8_0", "turbo4"), ("turbo4", "turbo4"),
                                   ("turbo3", "q4_0")], ids=lambda c: f"{c[0]}-{c[1]}")
def test_image_greedy_same_with_mtp_ngram_and_without(models, codec):
    plain, _ = greedy(models, codec)
    mtp, mtp_log = greedy(models, codec, "--mtp-head", models["asst"], "--draft-block-size", "3", "--spec-stats")
    ngram, ngram_log = greedy(models, codec, "--spec-type", "ngram", "--spec-stats")
    assert mtp == plain
    assert ngram == plain
    drafted = [int(x) for x in re.findall(r"drafted[ =:]+(\d+)", mtp_log + ngram_log)]
    assert drafted and max(drafted) > 0, mtp_log + ngram_log  # speculation really ran
