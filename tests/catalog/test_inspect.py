"""Files are identified by their bytes; malformed safetensors headers are refused with the reason."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

import pytest

from modelyard.catalog.files.inspect import inspect_file
from modelyard.catalog.files.safetensors import encode, tiny_lora
from modelyard.catalog.models import ModelFile
from modelyard.core.errors import ValidationFailed
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user


def inspect(data: bytes):
    return inspect_file(io.BytesIO(data), len(data))


def raw_header(header: object, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def header_of(header: bytes) -> bytes:
    """A file whose header is these bytes, with the four bytes of data its one tensor claims."""
    return struct.pack("<Q", len(header)) + header + b"1234"


def zipped(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, b"x")
    return out.getvalue()


def test_safetensors_details():
    found = inspect(tiny_lora(3, metadata={"ss_network_dim": "4", "ss_base_model_version": "sd_v1"}))
    assert found.format == "SafeTensor" and found.fp == "fp32" and found.size is None  # a LoRA has no pruned/full
    assert found.details["tensorCount"] == 3
    assert found.details["parameterCount"] == 4 * 32 * 2 + 1
    assert found.details["metadata"]["ss_base_model_version"] == "sd_v1"
    weights = struct.pack("<4e", 1, 2, 3, 4)
    checkpoint = encode({"model.diffusion_model.w": ("F16", [4], weights), "model_ema.w": ("F16", [4], weights)})
    found = inspect(checkpoint)
    assert (found.fp, found.size) == ("fp16", "full")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (struct.pack("<Q", 2**40) + b"{}", "claims"),  # a header claiming 1 TB
        (struct.pack("<Q", 50) + b'{"a": 1}', "truncated"),
        (raw_header({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"1234"), "outside"),
        (raw_header({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"12345678"), "does not fit"),
        (raw_header({"t": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 1]}}, b"1"), "dtype"),
        (raw_header({"__metadata__": {"a": 1}}), "__metadata__"),
        (struct.pack("<Q", 4) + b"{no}", "JSON"),
        # Headers built to crash a parser (issue 14): refused with the reason, never a 500.
        (
            header_of(b'{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1' + b"9" * 5000 + b"}}"),
            "digits",
        ),
        (struct.pack("<Q", 200_006) + b'{"a": ' + b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (
            raw_header({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": [[[[[[[[[]]]]]]]]]}}, b"1234"),
            "nested deeper",
        ),
        (raw_header({"t": {"dtype": "F32", "shape": [1] * 65, "data_offsets": [0, 4]}}, b"1234"), "dimensions"),
        (struct.pack("<Q", 10) + b'{"t": NaN}', "not valid JSON"),
    ],
)
def test_malformed_safetensors_are_refused(data, message):
    with pytest.raises(ValidationFailed, match=message):
        inspect(data)


def test_other_formats_by_content():
    assert inspect(pickle.dumps({"state_dict": [1, 2]}, protocol=4)).format == "PickleTensor"
    assert inspect(pickle.dumps({}, protocol=4)).contains_pickle
    assert inspect(zipped(["archive/data.pkl", "archive/data/0"])).format == "PickleTensor"
    assert inspect(zipped(["sd/model_index.json", "sd/unet/diffusion_pytorch_model.bin"])).contains_pickle
    assert inspect(b"GGUF\x03\x00\x00\x00rest").format == "GGUF"
    assert inspect(b"just some text").format == "Other"


def test_a_pickle_renamed_to_safetensors_is_refused(runtime, client):
    owner = create_user(runtime)
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    made = create_model(runtime, owner, with_files=False)
    upload = f"/api/model-versions/{made.version_ids[0]}/files"
    response = client.post(upload, files={"file": ("model.safetensors", pickle.dumps({"w": 1}))}, headers=headers)
    assert response.status_code == 422 and "PickleTensor" in response.json()["detail"]
    response = client.post(upload, files={"file": ("model.ckpt", tiny_lora(5))}, headers=headers)
    assert response.status_code == 201 and response.json()["metadata"]["format"] == "SafeTensor"
    with runtime.db.session() as session:
        assert session.query(ModelFile).count() == 1
        stored = session.get(ModelFile, response.json()["id"])
        assert stored is not None and stored.header_data["metadata"] == {"ss_network_dim": "4"}  # type: ignore[index]


def test_the_model_page_shows_what_is_inside(runtime, client):
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    page = client.get(f"/models/{made.id}", headers={"Accept": "text/html"}).text
    assert "3 tensors, 257 parameters" in page and "ss_network_dim" in page


def test_a_header_built_to_crash_the_parser_fails_the_upload_with_a_reason(runtime, client):
    owner = create_user(runtime)
    headers = {"Authorization": f"Bearer {create_api_key(runtime, owner)}"}
    made = create_model(runtime, owner, with_files=False)
    deep = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for header, reason in ((b'{"a": ' + b"9" * 5000 + b"}", "digits"), (deep, "nested deeper")):
        data = struct.pack("<Q", len(header)) + header
        response = client.post(
            f"/api/model-versions/{made.version_ids[0]}/files",
            files={"file": ("model.safetensors", data)},
            headers=headers,
        )
        assert response.status_code == 422 and reason in response.json()["detail"], response.text
    with runtime.db.session() as session:
        assert session.query(ModelFile).count() == 0
