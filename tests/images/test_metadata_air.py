"""The strict AIR reader for identifiers found in uploaded files."""

from __future__ import annotations

import pytest

from modelyard.images.metadata.air import Air, civitai_air, parse_air


def test_civitai_air_with_every_part() -> None:
    air = parse_air("urn:air:sdxl:LoRA:Civitai:328553@368189+4711.safetensors")
    assert air == Air("sdxl", "lora", "civitai", "328553", "368189", 4711, "safetensors")
    assert (air.civitai_model_id, air.civitai_version_id) == (328553, 368189)
    assert str(air) == "urn:air:sdxl:lora:civitai:328553@368189+4711.safetensors"


def test_other_sources_keep_the_case_of_id_and_version() -> None:
    air = parse_air("urn:air:flux1:checkpoint:huggingface:Black-Forest-Labs/FLUX.1-dev@main")
    assert air is not None and (air.source, air.id, air.version) == (
        "huggingface",
        "Black-Forest-Labs/FLUX.1-dev",
        "main",
    )
    assert air.civitai_version_id is None


@pytest.mark.parametrize(
    "text",
    [
        "air:sdxl:lora:civitai:1@2",  # no prefix
        "urn:air:lora:civitai:1@2",  # a segment missing
        "urn:air:sdxl:lora:civitai:1",  # civitai without a version
        "urn:air:sdxl:lora:civitai:1@0",
        "urn:air:sdxl:lora:civitai:1@-5",
        "urn:air:sdxl:lora:civitai:1@99999999999",  # past 2**31
        "urn:air:sdxl:lora:civitai:abc@2",
        "urn:air:sdxl:lora:civitai:1@2 OR 1=1",
        "urn:air:sdxl:lora:civitai:1@2\x00",
        "urn:air:sd xl:lora:civitai:1@2",
        "urn:air:sdxl:lora:civitai:" + "1" * 400 + "@2",
        "",
        None,
        12,
    ],
)
def test_malformed_airs_are_refused(text: object) -> None:
    assert parse_air(text) is None


def test_civitai_air_of_a_catalog_version() -> None:
    assert civitai_air("SDXL", "LoRA", 12, 34) == "urn:air:sdxl:lora:civitai:12@34"
    assert parse_air(civitai_air("sdxl", "lora", 12, 34)) is not None
