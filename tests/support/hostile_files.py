"""A corpus of hostile (and benign) model files, built here byte by byte: nothing is ever unpickled, and nothing is
stored in the repository. `hostile_files()` gives every case with the verdict it must get through the real upload,
inspection and scan path (tests/catalog/test_hostile_files.py runs them all):

- "refused": the upload is refused with a 4xx saying `says`, and nothing is kept;
- "Danger", "Error", "Success": the pickle scan's result, its message containing `says`.

Some cases depend on the scan limits the corpus test sets (`CORPUS_LIMITS`): the zip bomb and the huge memo are
built to pass them, with little data, as their real counterparts pass the defaults.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import tarfile
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass

from modelyard.catalog.files.safetensors import tiny_lora

MIB = 1024 * 1024
# Settings the corpus runs under: small enough that the bombs below are cheap to build and to scan.
CORPUS_LIMITS = {
    "pickle_scan_max_bytes": 8 * MIB,
    "pickle_scan_max_opcodes": 1_000_000,
    "pickle_scan_memory_mb": 512,
    "pickle_scan_timeout_seconds": 120,
}
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."


@dataclass(frozen=True)
class HostileFile:
    name: str
    filename: str
    data: bytes
    verdict: str  # "refused", or the ScanResult value the pickle scan must give
    says: str  # part of the refusal, or of the scan message


# --- pickles, opcode by opcode --------------------------------------------------------------------------------


def short_unicode(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def call(module: str, name: str, argument: str, *, protocol: int = 2) -> bytes:
    """A pickle that calls module.name(argument) when loaded (GLOBAL for protocol 2, STACK_GLOBAL for 4)."""
    if protocol >= 4:
        target = short_unicode(module) + b"\x94" + short_unicode(name) + b"\x94\x93\x94"
        return b"\x80\x04" + target + short_unicode(argument) + b"\x94\x85\x94R\x94."
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + _binunicode(argument) + b"\x85R."


def _binunicode(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<I", len(raw)) + raw


def protocol_0_call(module: str, name: str, argument: str) -> bytes:
    return f"c{module}\n{name}\n(S'{argument}'\ntR.".encode()


def memo_evasion() -> bytes:
    """STACK_GLOBAL whose module comes from the memo, stored under an allowed-looking string's neighbour."""
    return (
        b"\x80\x04"
        + short_unicode("os") + b"\x94"  # memo 0: "os"
        + short_unicode("torch._utils") + b"\x94"  # memo 1: an allowed module, as a decoy
        + b"0"  # POP the decoy
        + b"h\x00" + short_unicode("system") + b"\x93"  # BINGET 0 → os, "system", STACK_GLOBAL
        + short_unicode("echo owned") + b"\x85R."
    )  # fmt: skip


# --- containers -----------------------------------------------------------------------------------------------


def torch_zip(payload: bytes, *, extra: dict[str, bytes] | None = None, deflate: bool = False) -> bytes:
    out = io.BytesIO()
    compression = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", compression=compression) as archive:
        warnings.simplefilter("ignore")  # duplicate names are one of the cases
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", b"3\n")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def plain_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def legacy_torch(payload: bytes) -> bytes:
    """torch.save's legacy layout: magic, protocol version, system info, the object, storage keys, raw data."""
    return (
        LEGACY_MAGIC
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
        + payload
        + pickle.dumps([], protocol=2)
        + b"\x00" * 64
    )


def torch_tar(pickled: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in (("storages", pickle.dumps(0, protocol=2)), ("tensors", pickle.dumps(0, protocol=2))):
            _add_to_tar(archive, name, data)
        _add_to_tar(archive, "pickle", pickled)
    return out.getvalue()


def _add_to_tar(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def numpy_file(descr: str, data: bytes) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def torch_saved(*, legacy: bool) -> bytes:
    """A real, benign torch.save: what the allowed set exists for."""
    import torch

    out = io.BytesIO()
    weights = OrderedDict(w=torch.zeros(2, 3), b=torch.ones(3, dtype=torch.float16))
    torch.save(weights, out, _use_new_zipfile_serialization=not legacy)
    return out.getvalue()


# --- safetensors headers --------------------------------------------------------------------------------------


def safetensors_header(header: bytes, data: bytes = b"", *, claimed: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if claimed is None else claimed) + header + data


def tensor_file(shape: object, offsets: object, *, extra: str = "") -> bytes:
    """A one-tensor safetensors file with four bytes of data; `extra` goes into the tensor's object."""
    header = json.dumps({"t": {"dtype": "F32", "shape": shape, "data_offsets": offsets}})
    return safetensors_header(f"{header[:-2]}{extra}}}}}".encode(), b"1234")


# --- the corpus -----------------------------------------------------------------------------------------------


def hostile_files() -> list[HostileFile]:
    system = call("os", "system", "echo owned")
    benign = pickle.dumps({"state_dict": {"w": [1.0, 2.0]}}, protocol=2)
    saved = torch_saved(legacy=False)
    # name: (file name, content, part of the scan message or the refusal)
    danger = {  # code runs when these load
        "os-system-raw-pickle": ("model.ckpt", system, "os.system"),
        "os-system-protocol-4": ("model.pkl", call("os", "system", "id", protocol=4), "os.system"),
        "os-system-in-torch-zip": ("model.pt", torch_zip(system), "os.system"),
        "os-system-in-legacy-torch": ("model.ckpt", legacy_torch(system), "os.system"),
        "builtins-exec": ("model.pkl", call("builtins", "exec", "import os"), "builtins.exec"),
        "protocol-0-eval": ("model.ckpt", protocol_0_call("__builtin__", "eval", "1+1"), "__builtin__.eval"),
        "subprocess-popen": ("model.pt", call("subprocess", "Popen", "id"), "subprocess.Popen"),
        "runpy": ("model.pt", call("runpy", "_run_code", "print(1)"), "runpy._run_code"),
        "operator-attrgetter": ("model.pt", call("operator", "attrgetter", "system"), "operator.attrgetter"),
        "getattr": ("model.pt", call("builtins", "getattr", "system"), "builtins.getattr"),
        "functools-partial": ("model.pt", call("functools", "partial", "x"), "functools.partial"),
        "pydoc-locate": ("model.pt", call("pydoc", "locate", "os.system"), "pydoc.locate"),
        "importlib-import-module": ("model.pt", call("importlib", "import_module", "os"), "importlib.import_module"),
        "nested-torch-load": ("model.pt", torch_zip(call("torch.serialization", "load", "x.pt")), "serialization.load"),
        # The probe's file: the call runs before the unpickler reaches the garbage.
        "bad-opcode-after-import": ("model.ckpt", b"cos\nsystem\n(S'echo owned'\ntR" + b"\xff" * 12, "os.system"),
        "import-name-from-the-memo": ("model.pkl", memo_evasion(), "os.system"),
        "copyreg-extension-code": ("model.pkl", b"\x80\x02\x82\x01)R.", "extension code 1"),
        "unparsable-int-before-import": ("model.ckpt", b"I0x10\n" + protocol_0_call("os", "system", "id"), "os.system"),
        "global-without-final-newline": ("model.ckpt", b"cos\nsystem", "os.syste"),
        "module-given-as-a-path": ("model.ckpt", call("json/../os", "system", "id"), "json/../os.system"),
        "second-data-pkl-in-zip": ("model.pt", torch_zip(benign, extra={"archive/data.pkl": system}), "os.system"),
        "torch-zip-in-diffusers-zip": (
            "sd.zip",
            plain_zip({"sd/model_index.json": b"{}", "sd/unet/diffusion_pytorch_model.bin": torch_zip(system)}),
            "os.system",
        ),
        "legacy-magic-computed-by-eval": ("model.ckpt", call("builtins", "eval", "0x1950a86a20f9469cfc6c"), "eval"),
        "old-torch-tar": ("model.ckpt", torch_tar(system), "os.system"),
        "gguf-magic-then-pickle": ("model.ckpt", b"GGUF\x03\0\0\0\0" + protocol_0_call("os", "system", "id"), "os"),
        "numpy-object-array": ("weights.npy", numpy_file("|O", system), "os.system"),
    }
    error = {  # the scan could not judge these: held until a moderator decides
        "zip-bomb": (
            "model.pt",
            torch_zip(b"\x80\x04(" + b")" * (16 * MIB) + b"l.", deflate=True),
            "too large to scan",
        ),
        "huge-memo": (
            "model.pkl",
            b"\x80\x04N" + b"".join(b"r" + struct.pack("<I", 2 * key + 1) for key in range(1_200_000)) + b".",
            "too large to scan",
        ),
        "truncated-torch-zip": ("model.pt", saved[: len(saved) // 2], "cannot be read"),
        "config-read-as-pickle": ("config.yaml", b"checkpoint: model.ckpt\nsteps: 3\n", "names no module"),
        "old-torch-tar-without-imports": ("model.ckpt", torch_tar(benign), "old PyTorch tar"),
        "archives-nested-too-deeply": (
            "deep.zip",
            plain_zip({"a.zip": plain_zip({"b.zip": plain_zip({"c.pkl": benign})})}),
            "too deeply",
        ),
    }
    success = {  # benign files must pass
        "state-dict-pickle": ("model.ckpt", benign, "No dangerous imports"),
        "ordered-dict-protocol-4": ("model.pkl", pickle.dumps(OrderedDict(a=1), protocol=4), "No dangerous imports"),
        "torch-save-zip": ("model.pt", saved, "No dangerous imports"),
        "torch-save-legacy": ("model.ckpt", torch_saved(legacy=True), "No dangerous imports"),
        "truncated-pickle": ("model.pkl", benign[: len(benign) // 2], "No dangerous imports"),
        "safetensors": ("lora.safetensors", tiny_lora(7), "holds no code"),
        "gguf": ("model.gguf", b"GGUF\x03\0\0\0" + struct.pack("<QQ", 300, 0), "No dangerous imports"),
        "text-notes": ("notes.txt", b"Trigger words: red hat, blue sky\n", "No dangerous imports"),
        "numpy-floats": ("w.npy", numpy_file("<f4", b"\x00\x00\x80?"), "No dangerous imports"),
        "diffusers-zip": (
            "sd.zip",
            plain_zip({"sd/model_index.json": b"{}", "sd/unet/diffusion_pytorch_model.bin": saved}),
            "No dangerous imports",
        ),
    }
    deep = ', "x": ' + "[" * 100_000 + "]" * 100_000
    refused = {  # safetensors headers that lie, or would crash a parser: the upload fails, nothing is kept
        "pickle-named-safetensors": ("model.safetensors", system, "not a safetensors file"),
        "header-longer-than-file": ("model.safetensors", safetensors_header(b'{"a": 1}', claimed=5000), "truncated"),
        "header-claims-a-terabyte": ("model.safetensors", safetensors_header(b"{}", claimed=2**40), "claims"),
        "absurd-shape": ("model.safetensors", tensor_file([2**40, 2**40], [0, 4]), "does not fit"),
        "offsets-outside-the-data": ("model.safetensors", tensor_file([1], [0, 2**62]), "outside"),
        "5000-digit-number": ("model.safetensors", tensor_file([1], [0, 4], extra=', "x": ' + "9" * 5000), "digits"),
        "100k-deep-nesting": ("model.safetensors", tensor_file([1], [0, 4], extra=deep), "nested"),
        "ten-deep-nesting": (
            "model.safetensors",
            tensor_file([1], [0, 4], extra=', "x": ' + "[" * 10 + "]" * 10),
            "nested",
        ),
        "too-many-dimensions": ("model.safetensors", tensor_file([1] * 100, [0, 4]), "dimensions"),
        "nan-in-header": ("model.safetensors", safetensors_header(b'{"t": NaN}'), "not valid JSON"),
        "not-utf8-header": ("model.safetensors", safetensors_header(b'{"t": "\xff"}'), "not valid JSON"),
    }
    verdicts = {"Danger": danger, "Error": error, "Success": success, "refused": refused}
    return [
        HostileFile(name, filename, data, verdict, says)
        for verdict, cases in verdicts.items()
        for name, (filename, data, says) in cases.items()
    ]
