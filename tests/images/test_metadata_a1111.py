"""A1111 / Forge infotext, as PNG text chunks of each kind and as the EXIF UserComment of a JPEG or WebP."""

from __future__ import annotations

import json

import pytest

from modelyard.images.metadata import FoundResource, read_metadata
from tests.support.image_metadata import exif_picture, png_text, png_with, text_chunk, user_comment

FORGE = (
    "masterpiece, a lighthouse on basalt cliffs at dusk, <lora:add_detail:0.6>, <lora:filmGrain:0.35>\n"
    "volumetric light, (sea spray:1.2)\n"
    "Negative prompt: lowres, blurry, watermark\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3604451723, Size: 832x1216, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, VAE hash: 235745af8d, VAE: sdxl_vae.safetensors, "
    "Denoising strength: 0.35, Clip skip: 2, Hires upscale: 1.5, Hires upscaler: 4x-UltraSharp, "
    'Lora hashes: "add_detail: 7c6bad76eb54, filmGrain: 3e2a1b0c9d8f", TI hashes: "easynegative: c74b4e810b03", '
    'ADetailer prompt: "a face, smiling", '
    'Hashes: {"vae": "235745af8d", "model": "31e35c80fc", "lora:add_detail": "7c6bad76eb54", '
    '"embed:easynegative": "c74b4e810b03"}, Version: f2.0.1v1.10.1-previous-313-g8a042934'
)


def test_multi_line_infotext_gives_prompts_and_settings() -> None:
    found = read_metadata(png_text(parameters=FORGE))
    assert found is not None
    meta = found.meta
    assert meta["prompt"].startswith("masterpiece, a lighthouse") and meta["prompt"].endswith("(sea spray:1.2)")
    assert meta["negativePrompt"] == "lowres, blurry, watermark"
    assert (meta["steps"], meta["cfgScale"], meta["seed"], meta["clipSkip"]) == (28, 6.5, 3604451723, 2)
    assert meta["sampler"] == "DPM++ 2M" and meta["Schedule type"] == "Karras"
    assert (meta["Size"], meta["width"], meta["height"]) == ("832x1216", 832, 1216)
    assert meta["Model"] == "sd_xl_base_1.0" and meta["Model hash"] == "31e35c80fc"
    assert meta["Denoising strength"] == 0.35 and meta["Hires upscale"] == 1.5
    assert meta["ADetailer prompt"] == "a face, smiling"  # a quoted value keeps its comma
    assert meta["Version"].startswith("f2.0.1")  # text keys stay text
    assert meta["hashes"]["lora:add_detail"] == "7c6bad76eb54"
    json.dumps(meta, allow_nan=False)


def test_loras_take_weights_from_the_prompt_and_hashes_from_lora_hashes() -> None:
    found = read_metadata(png_text(parameters=FORGE))
    assert found is not None
    by_name = {resource.name: resource for resource in found.resources}
    assert by_name["add_detail"] == FoundResource("lora", "add_detail", "7c6bad76eb54", None, 0.6)
    assert by_name["filmGrain"].hash == "3e2a1b0c9d8f" and by_name["filmGrain"].strength == 0.35
    assert by_name["sd_xl_base_1.0"].kind == "checkpoint" and by_name["sd_xl_base_1.0"].hash == "31e35c80fc"
    assert by_name["easynegative"].kind == "embedding" and by_name["easynegative"].hash == "c74b4e810b03"
    assert any(resource.kind == "vae" and resource.hash == "235745af8d" for resource in found.resources)
    assert len({resource.hash for resource in found.resources}) == len(found.resources)  # one per hash
    assert {"name": "add_detail", "type": "lora", "weight": 0.6, "hash": "7c6bad76eb54"} in found.meta["resources"]


def test_single_line_infotext_is_split_the_same_way() -> None:
    text = (
        "portrait of a knight, <hypernet:oilPaint:0.8> Negative prompt: cartoon, 3d "
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768, Model hash: 6ce0161689, Model: v1-5"
    )
    found = read_metadata(png_text(parameters=text))
    assert found is not None
    assert found.meta["prompt"] == "portrait of a knight, <hypernet:oilPaint:0.8>"
    assert found.meta["negativePrompt"] == "cartoon, 3d"
    assert (found.meta["steps"], found.meta["seed"], found.meta["width"]) == (20, 42, 512)
    assert FoundResource("hypernet", "oilPaint", None, None, 0.8) in found.resources


def test_civitai_resources_and_metadata_segments() -> None:
    resources = [
        {"type": "checkpoint", "modelVersionId": 290640, "modelVersionName": "V6"},
        {"type": "lora", "weight": 0.8, "air": "urn:air:sdxl:lora:civitai:1234@5678"},
        {"type": "lora", "weight": 0.5, "air": "urn:air:sdxl:lora:civitai:oops"},  # malformed: no link
    ]
    text = (
        "a fox in snow\nNegative prompt: text\nSteps: 30, Sampler: Euler, CFG scale: 3.5, Seed: 9, Size: 1024x1024, "
        f"Civitai resources: {json.dumps(resources)}, Civitai metadata: {json.dumps({'remixOfId': 77})}"
    )
    found = read_metadata(png_text(parameters=text))
    assert found is not None
    assert found.meta["extra"] == {"remixOfId": 77}
    assert found.meta["civitaiResources"][0]["modelVersionId"] == 290640
    assert FoundResource("checkpoint", "V6", None, None, None, version_id=290640) in found.resources
    lora = next(resource for resource in found.resources if resource.air)
    assert (lora.air, lora.strength, lora.kind) == ("urn:air:sdxl:lora:civitai:1234@5678", 0.8, "lora")
    assert found.meta["seed"] == 9 and found.meta["cfgScale"] == 3.5  # the rest of the line still reads


def test_addnet_models_and_refiner_carry_their_hashes() -> None:
    text = (
        "a tree\nSteps: 20, Seed: 1, AddNet Enabled: True, AddNet Module 1: LoRA, "
        "AddNet Model 1: barkTexture(a1b2c3d4e5f6), AddNet Weight A 1: 0.7, Refiner: sdxl_refiner [7440042bbd]"
    )
    found = read_metadata(png_text(parameters=text))
    assert found is not None
    assert FoundResource("lora", "barkTexture", "a1b2c3d4e5f6", None, 0.7) in found.resources
    assert FoundResource("checkpoint", "sdxl_refiner", "7440042bbd", None, None) in found.resources


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt", "iTXt-z"])
def test_every_png_text_chunk_kind(kind: str) -> None:
    text = "ein Fuchs im Schnee\nSteps: 12, Seed: 3, Size: 64x64"
    found = read_metadata(png_with(text_chunk("parameters", text, kind)))
    assert found is not None and found.meta["prompt"] == "ein Fuchs im Schnee" and found.meta["steps"] == 12


def test_utf8_prompt_in_itxt_and_chunks_after_the_pixels() -> None:
    text = "雪の中の狐, きつね\nNegative prompt: ぼやけ\nSteps: 25, Seed: 11"
    found = read_metadata(png_with(text_chunk("parameters", text, "iTXt"), after_pixels=True))
    assert (
        found is not None and found.meta["prompt"] == "雪の中の狐, きつね" and found.meta["negativePrompt"] == "ぼやけ"
    )


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
@pytest.mark.parametrize("big_endian", [True, False])
def test_exif_user_comment_in_jpeg_and_webp(fmt: str, big_endian: bool) -> None:
    text = "a red barn <lora:rustic:0.9>\nNegative prompt: people\nSteps: 24, Sampler: UniPC, CFG scale: 5, Seed: 8"
    found = read_metadata(exif_picture(fmt, comment=user_comment(text, big_endian=big_endian)))
    assert found is not None
    assert found.meta["prompt"] == "a red barn <lora:rustic:0.9>" and found.meta["negativePrompt"] == "people"
    assert (found.meta["sampler"], found.meta["steps"]) == ("UniPC", 24)
    assert FoundResource("lora", "rustic", None, None, 0.9) in found.resources


def test_images_without_generation_data_give_none() -> None:
    assert read_metadata(png_text(Software="GIMP", Title="holiday")) is None
    assert read_metadata(png_text(parameters="just a caption, no settings")) is None
    assert read_metadata(exif_picture("JPEG", ifd0={0x010F: "Canon", 0x0110: "EOS R5"})) is None
