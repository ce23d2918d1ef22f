"""SwarmUI, Fooocus, RuinedFooocus and InvokeAI (current and legacy) metadata."""

from __future__ import annotations

import json

from modelyard.images.metadata import FoundResource, read_metadata
from tests.support.image_metadata import exif_picture, png_text, user_comment

SWARM = {
    "sui_image_params": {
        "prompt": "a snowy forest tileset, pixel art",
        "negativeprompt": "blurry",
        "model": "OfficialStableDiffusion/sd_xl_base_1.0",
        "seed": 1357924680,
        "steps": 30,
        "cfgscale": 6,
        "aspectratio": "Custom",
        "width": 1152,
        "height": 896,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "clipstopatlayer": -2,
        "loras": ["pixel-art-xl", "add_detail"],
        "loraweights": ["0.8", "0.5"],
        "swarm_version": "0.9.2.1",
        "date": "2024-08-01",
    },
    "sui_models": [
        {"name": "sd_xl_base_1.0.safetensors", "param": "model", "hash": "0x31e35c80fc4829d14f90153f4c74cd59c90b77"},
        {"name": "pixel-art-xl.safetensors", "param": "loras", "hash": "0xbbf3d8defbb0cbd4a2b3c4d5e6f708"},
    ],
    "sui_extra_data": {"prep_time": "0.01 sec"},
}


def test_swarmui_parameters() -> None:
    found = read_metadata(png_text(parameters=json.dumps(SWARM)))
    assert found is not None
    meta = found.meta
    assert meta["prompt"] == "a snowy forest tileset, pixel art" and meta["negativePrompt"] == "blurry"
    assert (meta["seed"], meta["steps"], meta["cfgScale"], meta["clipSkip"]) == (1357924680, 30, 6, 2)
    assert meta["sampler"] == "DPM++ 2M Karras" and (meta["width"], meta["height"]) == (1152, 896)
    assert meta["Model"] == "sd_xl_base_1.0" and meta["software"] == "SwarmUI 0.9.2.1"
    assert FoundResource("checkpoint", "sd_xl_base_1.0", "31e35c80fc4829d14f90153f4c74cd59c90b77", None, None) in (
        found.resources
    )
    assert FoundResource("lora", "pixel-art-xl", "bbf3d8defbb0cbd4a2b3c4d5e6f708", None, 0.8) in found.resources
    assert FoundResource("lora", "add_detail", None, None, 0.5) in found.resources


def test_swarmui_in_a_jpeg_user_comment() -> None:
    found = read_metadata(exif_picture("JPEG", comment=user_comment(json.dumps(SWARM))))
    assert found is not None and found.meta["seed"] == 1357924680


def test_fooocus_scheme() -> None:
    fooocus = {
        "adm_guidance": "(1.5, 0.8, 0.3)",
        "base_model": "juggernautXL_v8Rundiffusion.safetensors",
        "base_model_hash": "aeb7e9e689",
        "full_prompt": ["a cozy village at sunset"],
        "guidance_scale": 4,
        "loras": [["sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128"], ["None", 1.0, ""]],
        "metadata_scheme": "fooocus",
        "negative_prompt": "ugly",
        "performance": "Speed",
        "prompt": "a cozy village at sunset",
        "refiner_model": "None",
        "resolution": "(1152, 896)",
        "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "seed": "8754123987412",
        "sharpness": 2,
        "steps": 30,
        "styles": "['Fooocus V2', 'Fooocus Enhance']",
        "version": "Fooocus v2.5.5",
    }
    data = png_text(parameters=json.dumps(fooocus), fooocus_scheme="fooocus")
    found = read_metadata(data)
    assert found is not None
    meta = found.meta
    assert meta["prompt"] == "a cozy village at sunset" and meta["negativePrompt"] == "ugly"
    assert (meta["seed"], meta["steps"], meta["cfgScale"]) == (8754123987412, 30, 4)
    assert meta["sampler"] == "DPM++ 2M SDE Karras" and meta["Size"] == "1152x896"
    assert meta["Model"] == "juggernautXL_v8Rundiffusion" and meta["Model hash"] == "aeb7e9e689"
    assert meta["software"] == "Fooocus v2.5.5"
    assert FoundResource("checkpoint", "juggernautXL_v8Rundiffusion", "aeb7e9e689", None, None) in found.resources
    assert FoundResource("lora", "sd_xl_offset_example-lora_1.0", "4852686128", None, 0.1) in found.resources
    assert len(found.resources) == 2  # "None" is an empty LoRA slot


def test_ruined_fooocus() -> None:
    ruined = {
        "Prompt": "a starship drifting past a violet nebula",
        "Negative": "text, watermark",
        "steps": 40,
        "cfg": 7.5,
        "width": 1216,
        "height": 832,
        "seed": 5555,
        "sampler_name": "euler_ancestral",
        "scheduler": "normal",
        "base_model_name": "sd_xl_base_1.0.safetensors",
        "base_model_hash": "31e35c80fc",
        "loras": [["0.6 - spaceship_xl.safetensors"]],
        "start_step": 0,
        "denoise": 1,
        "software": "RuinedFooocus",
    }
    found = read_metadata(png_text(parameters=json.dumps(ruined)))
    assert found is not None
    meta = found.meta
    assert meta["prompt"] == "a starship drifting past a violet nebula" and meta["negativePrompt"] == "text, watermark"
    assert (meta["steps"], meta["cfgScale"], meta["seed"], meta["sampler"]) == (40, 7.5, 5555, "Euler a")
    assert meta["software"] == "RuinedFooocus" and meta["Size"] == "1216x832"
    assert FoundResource("checkpoint", "sd_xl_base_1.0", "31e35c80fc", None, None) in found.resources
    assert FoundResource("lora", "spaceship_xl", None, None, 0.6) in found.resources


def test_invokeai_metadata() -> None:
    invoke = {
        "generation_mode": "sdxl_txt2img",
        "positive_prompt": "an astronaut on a crystal moon",
        "negative_prompt": "lowres",
        "width": 1024,
        "height": 1024,
        "seed": 2222,
        "rand_device": "cpu",
        "cfg_scale": 6.5,
        "steps": 35,
        "scheduler": "dpmpp_2m_k",
        "model": {
            "key": "b7e0",
            "hash": "blake3:5A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F9",
            "name": "Juggernaut XL v9",
            "base": "sdxl",
            "type": "main",
        },
        "vae": {"key": "v1", "hash": "random:abc", "name": "sdxl-vae-fp16-fix", "base": "sdxl", "type": "vae"},
        "loras": [
            {
                "model": {
                    "key": "l1",
                    "hash": "blake3:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                    "name": "Crystal Style",
                },
                "weight": 0.7,
            }
        ],
        "app_version": "4.2.9",
    }
    found = read_metadata(png_text(invokeai_metadata=json.dumps(invoke)))
    assert found is not None
    meta = found.meta
    assert meta["prompt"] == "an astronaut on a crystal moon" and meta["negativePrompt"] == "lowres"
    assert (meta["seed"], meta["steps"], meta["cfgScale"], meta["Size"]) == (2222, 35, 6.5, "1024x1024")
    assert meta["Model"] == "Juggernaut XL v9" and meta["software"] == "InvokeAI 4.2.9"
    checkpoint = next(resource for resource in found.resources if resource.kind == "checkpoint")
    assert checkpoint.hash == "5a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
    lora = next(resource for resource in found.resources if resource.kind == "lora")
    assert (lora.name, lora.strength, lora.hash[:8]) == ("Crystal Style", 0.7, "00112233")
    vae = next(resource for resource in found.resources if resource.kind == "vae")
    assert vae.hash is None  # "random:…" is not a digest


def test_invokeai_legacy_sd_metadata() -> None:
    legacy = {
        "model": "stable diffusion",
        "model_weights": "stable-diffusion-1.5",
        "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
        "app_id": "invoke-ai/InvokeAI",
        "app_version": "2.3.5",
        "image": {
            "prompt": [{"prompt": "a heron in tall reeds [blurry, frame]", "weight": 1.0}],
            "steps": 50,
            "cfg_scale": 7.5,
            "height": 512,
            "width": 512,
            "seed": 1234,
            "sampler": "k_lms",
            "type": "txt2img",
        },
    }
    found = read_metadata(png_text(**{"sd-metadata": json.dumps(legacy)}))
    assert found is not None
    meta = found.meta
    assert meta["prompt"] == "a heron in tall reeds" and meta["negativePrompt"] == "blurry, frame"
    assert (meta["steps"], meta["seed"], meta["sampler"], meta["software"]) == (50, 1234, "k_lms", "InvokeAI 2.3.5")
    assert found.resources[0].hash == legacy["model_hash"] and found.resources[0].kind == "checkpoint"
