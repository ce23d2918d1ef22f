"""Clean pickle checkpoints become safetensors (loaded with torch's weights-only unpickler), and the converted file
becomes the version's primary file; dangerous or unscanned pickles are never converted."""

from __future__ import annotations

import io
import pickle
import struct

import pytest
import torch
from sqlalchemy import func, select, update

from modelyard.catalog.enums import ModelStatus, ScanResult
from modelyard.catalog.files.convert import convert_to_safetensors
from modelyard.catalog.files.safetensors import read_header
from modelyard.catalog.files.scanning import scan_file
from modelyard.catalog.models import ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.jobs.models import Job
from modelyard.core.jobs.runner import execute
from modelyard.core.runtime import Runtime
from tests.catalog.test_pages import form, log_in_page, view
from tests.catalog.test_scanning import RunsCode, add, torch_zip
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user
from tests.support.storage import paused_mid_read


@pytest.fixture
def owner(runtime):
    user = create_user(runtime)
    return user, {"Authorization": f"Bearer {create_api_key(runtime, user)}"}


def saved(obj: object, *, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def scanned(runtime, file_id: int) -> None:
    with runtime.db.transaction() as session:
        scan_file(session, file_id=file_id)


def convert(runtime, client, headers, file_id: int):
    response = client.post(f"/api/model-files/{file_id}/convert", headers=headers)
    if response.status_code == 202:
        with runtime.db.transaction() as session:
            convert_to_safetensors(session, file_id=file_id)
    return response


def tensors_of(runtime, file_id: int) -> dict[str, torch.Tensor]:
    """The tensors of a stored safetensors file, read by its header (no loader of ours involved)."""
    with runtime.db.session() as session:
        file = session.get(ModelFile, file_id)
        assert file is not None
        data = runtime.storage.read_bytes(file.storage_key)
    start = 8 + struct.unpack("<Q", data[:8])[0]
    dtypes = {"F16": torch.float16, "F32": torch.float32}
    return {
        name: torch.frombuffer(bytearray(data[start + lo : start + hi]), dtype=dtypes[t["dtype"]]).reshape(t["shape"])
        for name, t in read_header(data).items()
        if name != "__metadata__"
        for lo, hi in [t["data_offsets"]]
    }


@pytest.mark.parametrize(
    ("checkpoint", "legacy", "expected"),
    [
        ("state_dict", False, {"model.diffusion_model.w": [4, 3], "cond_stage_model.b": [3]}),
        ("flat", True, {"lora_up.weight": [4, 3], "lora_down.weight": [3]}),
        ("embedding", False, {"emb_params": [2, 768]}),
    ],
)
def test_a_clean_pickle_becomes_the_primary_safetensors_file(runtime, client, owner, checkpoint, legacy, expected):
    user, headers = owner
    version_id = create_model(runtime, user, with_files=False, with_post=False).version_ids[0]
    generator = torch.Generator().manual_seed(7)
    shapes = list(expected.values())
    names = list(expected)
    made = {
        n: torch.randn(*shape, generator=generator).to(torch.float16) for n, shape in zip(names, shapes, strict=True)
    }
    payload = {
        "state_dict": {"state_dict": made, "epoch": 3, "global_step": 1200},
        "flat": made,
        "embedding": {"string_to_param": {"*": made.get("emb_params")}, "name": "ink", "step": 500},
    }[checkpoint]
    file_id = add(runtime, user, version_id, "weights.ckpt", saved(payload, legacy=legacy))
    scanned(runtime, file_id)

    response = convert(runtime, client, headers, file_id)
    assert response.status_code == 202, response.text
    assert response.json()["conversion"] == {"status": "Pending"}
    listed = client.get(f"/api/model-versions/{version_id}", headers=headers).json()["files"]
    source = next(f for f in listed if f["id"] == file_id)
    assert source["conversion"]["status"] == "Complete", source
    converted = next(f for f in listed if f["id"] == source["conversion"]["fileId"])
    assert converted["name"] == "weights.safetensors" and converted["primary"] is True
    assert converted["metadata"]["format"] == "SafeTensor" and converted["metadata"]["fp"] == "fp16"
    assert converted["inspection"]["convertedFrom"] == file_id and converted["hashes"]["SHA256"]
    assert converted["type"] == "Pruned Model"
    found = tensors_of(runtime, converted["id"])
    assert {name: list(t.shape) for name, t in found.items()} == expected
    for name, tensor in found.items():
        assert torch.equal(tensor, made[name])


def test_dangerous_unscanned_and_safetensors_files_are_not_converted(runtime, client, owner):
    user, headers = owner
    version_id = create_model(runtime, user, with_files=False, with_post=False).version_ids[0]
    dangerous = add(runtime, user, version_id, "evil.pt", torch_zip(pickle.dumps(RunsCode(), protocol=2)))
    unscanned = add(runtime, user, version_id, "later.ckpt", saved({"w": torch.zeros(2)}))
    scanned(runtime, dangerous)
    with runtime.db.session() as session:
        assert session.get(ModelFile, dangerous).pickle_scan_result == ScanResult.Danger  # type: ignore[union-attr]
    for file_id in (dangerous, unscanned):
        response = convert(runtime, client, headers, file_id)
        assert response.status_code == 409 and "scanner passed" in response.json()["detail"], response.text
    other = create_model(runtime, user).file_ids[0]
    assert convert(runtime, client, headers, other).status_code == 409
    stranger = {"Authorization": f"Bearer {create_api_key(runtime, create_user(runtime))}"}
    assert client.post(f"/api/model-files/{unscanned}/convert", headers=stranger).status_code == 404


def test_a_pickle_that_does_not_load_as_tensors_fails_with_the_reason(runtime, client, owner):
    user, headers = owner
    version_id = create_model(runtime, user, with_files=False, with_post=False).version_ids[0]
    # Clean by the scanner (plain containers only), but no tensors inside.
    file_id = add(runtime, user, version_id, "empty.ckpt", saved({"epoch": 3, "notes": ["a", "b"]}))
    scanned(runtime, file_id)
    assert convert(runtime, client, headers, file_id).status_code == 202
    with runtime.db.session() as session:
        source = session.get(ModelFile, file_id)
        assert source is not None
        assert source.conversion == {"status": "Failed", "error": "The checkpoint holds no tensors to convert"}
        assert session.query(ModelFile).filter(ModelFile.model_version_id == version_id).count() == 1


@pytest.mark.parametrize("legacy", [False, True])
def test_the_scanner_reads_both_torch_formats(runtime, owner, legacy):
    user, _ = owner
    version_id = create_model(runtime, user, with_files=False, with_post=False).version_ids[0]
    clean = add(runtime, user, version_id, "clean.pt", saved({"w": torch.ones(3)}, legacy=legacy))
    evil = add(runtime, user, version_id, "evil.pt", saved({"w": torch.ones(3), "x": RunsCode()}, legacy=legacy))
    for file_id in (clean, evil):
        scanned(runtime, file_id)
    with runtime.db.session() as session:
        results = {f.id: f.pickle_scan_result for f in session.query(ModelFile).filter(ModelFile.id.in_([clean, evil]))}
    assert results == {clean: ScanResult.Success, evil: ScanResult.Danger}


def test_converting_from_the_version_page(runtime, client, owner):
    user, _ = owner
    version_id = create_model(runtime, user, with_files=False, with_post=False).version_ids[0]
    file_id = add(runtime, user, version_id, "old.ckpt", saved({"state_dict": {"w": torch.ones(4, 4)}}))
    log_in_page(client, user)
    page = view(client, f"/model-versions/{version_id}/edit")
    assert "Convert old.ckpt to safetensors" not in page.text  # not scanned yet
    scanned(runtime, file_id)
    assert "Convert old.ckpt to safetensors" in view(client, f"/model-versions/{version_id}/edit").text

    sent = form(client, f"/model-files/{file_id}/convert")
    assert sent.headers["location"] == f"/model-versions/{version_id}/edit?done=conversion-requested"
    assert "Converting to safetensors…" in view(client, f"/model-versions/{version_id}/edit").text
    with runtime.db.transaction() as session:
        convert_to_safetensors(session, file_id=file_id)
    done = view(client, f"/model-versions/{version_id}/edit").text
    assert "old.safetensors" in done and "Convert old.ckpt to safetensors" not in done
    again = form(client, f"/model-files/{file_id}/convert")
    assert again.status_code == 409 and "already Complete" in again.text


def test_other_writers_go_on_while_a_checkpoint_converts(runtime, client, owner):
    """On SQLite the job's session holds the one write lock from its first statement: the conversion (torch,
    writing, hashing, storing) must run before it, or every writer of the site waits."""
    user, headers = owner
    version_id = create_model(runtime, user, with_files=False, with_post=False).version_ids[0]
    file_id = add(runtime, user, version_id, "slow.ckpt", saved({"state_dict": {"w": torch.ones(8, 8)}}))
    scanned(runtime, file_id)
    assert client.post(f"/api/model-files/{file_id}/convert", headers=headers).status_code == 202
    with runtime.db.session() as session:
        job_id = session.scalar(select(Job.id).where(Job.name == "catalog.convert_to_safetensors"))
        source = session.get(ModelFile, file_id)
        assert job_id is not None and source is not None
    with (
        paused_mid_read(runtime, source.storage_key, lambda paused: execute(paused, job_id)),
        runtime.db.transaction() as session,  # a writer of its own while the checkpoint is read
    ):
        session.execute(update(ModelVersion).where(ModelVersion.id == version_id).values(updated_at=utcnow()))
    with runtime.db.session() as session:
        done = session.get(ModelFile, file_id)
        assert done is not None and (done.conversion or {}).get("status") == "Complete", done.conversion


def test_a_conversion_run_twice_leaves_one_object(runtime, client, owner):
    """A worker that dies after storing the result but before recording it: the next run writes over that
    object instead of beside it."""
    user, headers = owner
    made = create_model(runtime, user, with_files=False, with_post=False)
    file_id = add(runtime, user, made.version_ids[0], "twice.ckpt", saved({"w": torch.ones(4)}))
    scanned(runtime, file_id)
    assert client.post(f"/api/model-files/{file_id}/convert", headers=headers).status_code == 202
    with runtime.db.session(write=True) as session:  # the first run, whose completion is lost
        convert_to_safetensors(session, file_id=file_id)
        session.rollback()
    with runtime.db.transaction() as session:
        convert_to_safetensors(session, file_id=file_id)
    folder = f"models/{made.id}/{made.version_ids[0]}/"
    with runtime.db.session() as session:
        recorded = set(
            session.scalars(select(ModelFile.storage_key).where(ModelFile.model_version_id.in_(made.version_ids)))
        )
    stored = {key for key in runtime.storage.iter_keys(folder) if "/twice." in key}  # the folder is reused by ids
    assert len(recorded) == 2 and stored == recorded


def test_a_version_deleted_during_the_conversion_gets_no_file(runtime, client, owner):
    user, headers = owner
    made = create_model(runtime, user, with_files=False, with_post=False)
    file_id = add(runtime, user, made.version_ids[0], "gone.ckpt", saved({"w": torch.ones(4)}))
    scanned(runtime, file_id)
    assert client.post(f"/api/model-files/{file_id}/convert", headers=headers).status_code == 202
    with runtime.db.session() as session:
        source = session.get(ModelFile, file_id)
        assert source is not None

    def run_job(paused: Runtime) -> None:
        with paused.db.transaction() as session:
            convert_to_safetensors(session, file_id=file_id)

    with paused_mid_read(runtime, source.storage_key, run_job), runtime.db.transaction() as session:
        session.execute(
            update(ModelVersion).where(ModelVersion.id == made.version_ids[0]).values(status=ModelStatus.Deleted)
        )
    with runtime.db.session() as session:
        done = session.get(ModelFile, file_id)
        assert done is not None and done.conversion == {
            "status": "Failed",
            "error": f"Version {made.version_ids[0]} was deleted",
        }
        assert (
            session.scalar(
                select(func.count()).select_from(ModelFile).where(ModelFile.model_version_id == made.version_ids[0])
            )
            == 1
        )
    stored = [key for key in runtime.storage.iter_keys(f"models/{made.id}/{made.version_ids[0]}/") if "/gone." in key]
    assert stored == [source.storage_key]
