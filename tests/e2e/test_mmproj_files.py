"""mmproj (vision projector) files made by specula, end to end:
* `convert --mmproj` of the vision fixture's HF folder writes llama.cpp's file byte for byte (f32, --name Hf);
  at f16 the `gguf` package reads llama.cpp's keys back and the values are the f16-rounded llama.cpp tensors;
* `convert --mmproj` of tests/data/vision_fixtures (a 26B-style standardized tower and an E-style clipped one)
  gives `embed-image` embeddings equal to transformers' (the fixtures' chelsea.embeds.f32);
* a folder without a vision tower is refused with a clear message;
* `synth --preset *-mmproj --dry-run` metadata reads back with the `gguf` package with projection_dim equal to
  the matching text preset's embedding_length; `synth --preset tiny-mmproj` drives `run --mmproj --image` and
  `embed-image` on the `tiny` text preset."""
import filecmp
import os
import subprocess
from pathlib import Path

import gguf
import numpy as np
import pytest

SPECULA = os.environ["SPECULA_BIN"]
SHARED = Path(os.environ["SPECULA_SHARED_DIR"])
SOURCE = Path(os.environ["SPECULA_SOURCE_DIR"])
VISION = SHARED / "fixtures/llamacpp/vision"
COFFEE = SHARED / "assets/images/coffee.png"
CHELSEA = SHARED / "assets/images/chelsea.png"


def specula(*args, ok=True):
    r = subprocess.run([SPECULA, *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def test_convert_f32_is_llamacpps_file(tmp_path):
    out = tmp_path / "mmproj.gguf"
    specula("convert", "--mmproj", VISION / "hf", "-o", out, "--type", "f32", "--name", "Hf", "-q")
    assert filecmp.cmp(out, VISION / "mmproj-llamacpp-f32.gguf", shallow=False)


def test_convert_f16_reads_back_with_gguf(tmp_path):
    out = tmp_path / "mmproj-f16.gguf"
    specula("convert", "--mmproj", VISION / "hf", "-o", out, "-q")
    ours, ref = gguf.GGUFReader(out), gguf.GGUFReader(VISION / "mmproj-llamacpp-f32.gguf")
    assert list(ours.fields) == list(ref.fields)
    for k in ref.fields:
        if k not in ("general.name", "general.file_type"):
            assert ours.fields[k].contents() == ref.fields[k].contents(), k
    assert ours.fields["general.file_type"].contents() == 1  # MOSTLY_F16
    for a, b in zip(ours.tensors, ref.tensors, strict=True):
        assert a.name == b.name and list(a.shape) == list(b.shape)
        f16 = b.name.endswith(".weight") and len(b.shape) >= 2 and b.name != "v.position_embd.weight"
        assert a.tensor_type == (gguf.GGMLQuantizationType.F16 if f16 else gguf.GGMLQuantizationType.F32), a.name
        want = b.data.astype(np.float16) if f16 else b.data
        assert a.data.tobytes() == want.tobytes(), a.name


@pytest.mark.parametrize("fixture,budget", [("std_bidir", 70), ("e_clip140", 140)])
def test_converted_towers_match_transformers(tmp_path, fixture, budget):
    d = SOURCE / "tests/data/vision_fixtures" / fixture
    mm = tmp_path / "mmproj.gguf"
    specula("convert", "--mmproj", d / "hf", "-o", mm, "--type", "f32", "-q")
    out = tmp_path / "emb.f32"
    specula("embed-image", "--mmproj", mm, "--image", CHELSEA, "--image-max-tokens", budget, "--out", out)
    got, ref = np.fromfile(out, "<f4"), np.fromfile(d / "chelsea.embeds.f32", "<f4")
    assert got.shape == ref.shape
    err = np.abs(got - ref).max() / np.abs(ref).max()
    print(f"{fixture}: converted mmproj vs transformers embeddings: {err:.2e} of max |ref|")
    assert err < 1e-4


def test_convert_without_vision_tower_is_refused(tmp_path):
    r = specula("convert", "--mmproj", SHARED / "fixtures/llamacpp/text_e/hf", "-o", tmp_path / "x.gguf", ok=False)
    assert r.returncode != 0
    assert "no vision_config" in r.stderr
    assert not (tmp_path / "x.gguf").exists()


PRESETS = {"e2b-mmproj": ("e2b", 768, 16), "e4b-mmproj": ("e4b", 768, 16), "26b-a4b-mmproj": ("26b-a4b", 1152, 27),
           "31b-mmproj": ("31b", 1152, 27), "tiny-mmproj": ("tiny", 64, 2)}


@pytest.mark.parametrize("preset", PRESETS)
def test_synth_dry_run_fits_its_text_preset(tmp_path, preset):
    text, width, layers = PRESETS[preset]
    specula("synth", "--preset", preset, "-o", tmp_path / "mm.gguf", "--dry-run")
    specula("synth", "--preset", text, "-o", tmp_path / "text.gguf", "--dry-run")
    mm, t = gguf.GGUFReader(tmp_path / "mm.gguf"), gguf.GGUFReader(tmp_path / "text.gguf")
    ref = gguf.GGUFReader(VISION / "mmproj-llamacpp-f32.gguf")
    assert list(mm.fields) == list(ref.fields)
    assert mm.fields["general.architecture"].contents() == "clip"
    assert mm.fields["clip.vision.projector_type"].contents() == "gemma4v"
    assert mm.fields["clip.vision.embedding_length"].contents() == width
    assert mm.fields["clip.vision.block_count"].contents() == layers
    assert mm.fields["clip.vision.projection_dim"].contents() == t.fields["gemma4.embedding_length"].contents()


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    specula("synth", "--preset", "tiny", "-o", d / "tiny.gguf", "-q")
    specula("synth", "--preset", "tiny-mmproj", "-o", d / "tiny-mmproj.gguf", "-q")
    return d / "tiny.gguf", d / "tiny-mmproj.gguf"


def test_tiny_mmproj_runs_with_tiny(tiny_pair):
    model, mm = tiny_pair
    assert mm.stat().st_size < 4 << 20
    r = specula("run", "-m", model, "--mmproj", mm, "--image", COFFEE, "-p", "Describe", "-n", "4")
    assert "soft tokens" in r.stderr, r.stderr
    assert "generation: 4 tokens" in r.stderr, r.stderr


def test_tiny_mmproj_embed_image(tiny_pair, tmp_path):
    _, mm = tiny_pair
    out = tmp_path / "emb.f32"
    specula("embed-image", "--mmproj", mm, "--image", COFFEE, "--image-max-tokens", "70", "--out", out)
    emb = np.fromfile(out, "<f4").reshape(-1, 256)  # tiny's hidden size
    assert emb.shape[0] == 60 and np.isfinite(emb).all()
    assert 0.5 < np.sqrt((emb ** 2).mean()) < 2.0


def test_info_prints_the_vision_tower(tiny_pair, tmp_path):
    _, mm = tiny_pair
    out = specula("info", mm).stdout
    # tiny-mmproj as mmproj_presets.h defines it; head dim 64 / 4; projects into tiny's 256-wide text model.
    assert ("vision: gemma4v, D 64, 2 layers, 4 heads x 16, MLP 256, patch 16, 2048 positions, projects to 256; "
            "clippable linears (clamps), not standardized") in out, out
    std = tmp_path / "std.gguf"
    specula("convert", "--mmproj", SOURCE / "tests/data/vision_fixtures/std_bidir/hf", "-o", std, "-q")
    assert "no clamps, standardized (std_bias/std_scale)" in specula("info", std).stdout
    text = specula("info", SHARED / "fixtures/llamacpp/vision/llamacpp-f32.gguf").stdout
    assert "vision:" not in text
