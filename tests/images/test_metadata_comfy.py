"""ComfyUI graphs: the API-format `prompt` chunk walked for prompts, sampler and loaders; the `workflow` chunk kept."""

from __future__ import annotations

import json
from typing import Any

from modelyard.images.metadata import FoundResource, read_metadata
from tests.support.image_metadata import MAKE, MODEL, exif_picture, png_text


def sdxl_graph() -> dict[str, Any]:
    """A txt2img graph as ComfyUI saves it: a shared seed primitive, two LoRAs (one switched off), a prompt built
    from a string node, a ControlNet on the positive side and a hires pass."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "SDXL/juggernautXL_v9.safetensors"}},
        "10": {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": "detail_slider.safetensors",
                "strength_model": 0.75,
                "strength_clip": 1,
                "model": ["4", 0],
                "clip": ["4", 1],
            },
        },
        "11": {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": "unused.safetensors",
                "strength_model": 0.0,
                "strength_clip": 0.0,
                "model": ["10", 0],
                "clip": ["10", 1],
            },
        },
        "12": {"class_type": "VAELoader", "inputs": {"vae_name": "sdxl_vae.safetensors"}},
        "20": {"class_type": "PrimitiveInt", "inputs": {"value": 123456789012}},
        "21": {"class_type": "String Literal", "inputs": {"string": "a glass greenhouse full of orchids"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["21", 0], "clip": ["11", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, lowres", "clip": ["11", 1]}},
        "30": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "controlnet-canny-sdxl.safetensors"}},
        "31": {
            "class_type": "ControlNetApplyAdvanced",
            "inputs": {"positive": ["6", 0], "negative": ["7", 0], "control_net": ["30", 0], "strength": 0.6},
        },
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 832, "height": 1216, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": ["20", 0],
                "steps": 30,
                "cfg": 5.5,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "denoise": 1.0,
                "model": ["11", 0],
                "positive": ["31", 0],
                "negative": ["31", 1],
                "latent_image": ["5", 0],
            },
        },
        "40": {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["3", 0], "scale_by": 1.5}},
        "41": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1,
                "steps": 12,
                "cfg": 5.5,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 0.4,
                "model": ["11", 0],
                "positive": ["31", 0],
                "negative": ["31", 1],
                "latent_image": ["40", 0],
            },
        },
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ComfyUI"}},
    }


def flux_graph() -> dict[str, Any]:
    """Flux through SamplerCustomAdvanced, with a model named by its AIR."""
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "fp8"}},
        "2": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"lora_name": "urn:air:flux1:lora:civitai:4321@8765", "strength_model": 0.9, "model": ["1", 0]},
        },
        "3": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "a botanical plate of wild poppies", "clip": ["9", 0]},
        },
        "4": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5, "conditioning": ["3", 0]}},
        "5": {"class_type": "BasicGuider", "inputs": {"model": ["2", 0], "conditioning": ["4", 0]}},
        "6": {"class_type": "RandomNoise", "inputs": {"noise_seed": 987654321}},
        "7": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "8": {
            "class_type": "BasicScheduler",
            "inputs": {"scheduler": "simple", "steps": 24, "denoise": 1, "model": ["2", 0]},
        },
        "10": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
        "11": {
            "class_type": "SamplerCustomAdvanced",
            "inputs": {
                "noise": ["6", 0],
                "guider": ["5", 0],
                "sampler": ["7", 0],
                "sigmas": ["8", 0],
                "latent_image": ["10", 0],
            },
        },
        "extra": {"airs": ["urn:air:flux1:checkpoint:civitai:618692@691639"]},
    }


WORKFLOW = {"last_node_id": 41, "nodes": [{"id": 3, "type": "KSampler", "widgets_values": [1, "fixed", 30]}]}


def test_ksampler_graph_gives_prompts_settings_and_size() -> None:
    found = read_metadata(png_text(prompt=json.dumps(sdxl_graph()), workflow=json.dumps(WORKFLOW)))
    assert found is not None
    meta = found.meta
    assert meta["prompt"] == "a glass greenhouse full of orchids"  # through ControlNet and the string node
    assert meta["negativePrompt"] == "blurry, lowres"
    assert (meta["seed"], meta["steps"], meta["cfgScale"]) == (123456789012, 30, 5.5)  # the full-strength sampler
    assert meta["sampler"] == "DPM++ 2M Karras" and meta["scheduler"] == "karras"
    assert (meta["width"], meta["height"], meta["Size"]) == (832, 1216, "832x1216")
    assert meta["Model"] == "juggernautXL_v9" and meta["software"] == "ComfyUI"


def test_loaders_become_resources_and_switched_off_loras_do_not() -> None:
    found = read_metadata(png_text(prompt=json.dumps(sdxl_graph())))
    assert found is not None
    assert {(resource.kind, resource.name, resource.strength) for resource in found.resources} == {
        ("checkpoint", "juggernautXL_v9", None),
        ("lora", "detail_slider", 0.75),
        ("vae", "sdxl_vae", None),
        ("controlnet", "controlnet-canny-sdxl", None),
    }


def test_graph_and_workflow_are_kept_as_a_string() -> None:
    found = read_metadata(png_text(prompt=json.dumps(sdxl_graph()), workflow=json.dumps(WORKFLOW)))
    assert found is not None
    kept = json.loads(found.meta["comfy"])
    assert kept["prompt"]["3"]["class_type"] == "KSampler" and kept["workflow"] == WORKFLOW


def test_sampler_custom_advanced_with_flux_guidance_and_airs() -> None:
    found = read_metadata(png_text(prompt=json.dumps(flux_graph())))
    assert found is not None
    meta = found.meta
    assert meta["prompt"] == "a botanical plate of wild poppies" and "negativePrompt" not in meta
    assert (meta["seed"], meta["steps"], meta["cfgScale"], meta["sampler"]) == (987654321, 24, 3.5, "Euler")
    assert (meta["width"], meta["height"]) == (1024, 768)
    assert FoundResource("checkpoint", "flux1-dev", None, None, None) in found.resources
    assert FoundResource("lora", None, None, "urn:air:flux1:lora:civitai:4321@8765", 0.9) in found.resources
    assert FoundResource("checkpoint", None, None, "urn:air:flux1:checkpoint:civitai:618692@691639", None) in (
        found.resources
    )


def test_webp_with_the_graph_in_exif_make_and_model() -> None:
    data = exif_picture(
        "WEBP", ifd0={MODEL: "prompt:" + json.dumps(sdxl_graph()), MAKE: "workflow:" + json.dumps(WORKFLOW)}
    )
    found = read_metadata(data)
    assert found is not None and found.meta["prompt"] == "a glass greenhouse full of orchids"
    assert json.loads(found.meta["comfy"])["workflow"] == WORKFLOW


def test_workflow_alone_is_kept_without_parameters() -> None:
    found = read_metadata(png_text(workflow=json.dumps(WORKFLOW)))
    assert found is not None
    assert found.meta["software"] == "ComfyUI" and "prompt" not in found.meta and found.resources == ()
    assert json.loads(found.meta["comfy"]) == {"workflow": WORKFLOW}


def test_a1111_text_wins_over_a_graph_in_the_same_file() -> None:
    data = png_text(parameters="a1111 side\nSteps: 5, Seed: 2", prompt=json.dumps(sdxl_graph()))
    found = read_metadata(data)
    assert found is not None and found.meta["prompt"] == "a1111 side"
