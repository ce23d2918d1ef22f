"""Pickle scanning in a child process with memory, CPU, byte and opcode limits, so a hostile file costs a bounded
amount and only its own scan fails.

The parent (`scan_in_sandbox`, called by the scan job) runs `python -m modelyard.catalog.files.pickle_scan` on a local
copy of the file, with a wall-clock timeout and without the server's environment. The child sets its own
RLIMIT_AS and RLIMIT_CPU, finds every pickle a loader could run (a raw pickle and what follows it, torch's legacy
format, torch zip archives and zips holding pickles or other archives, numpy object arrays, torch's old tar
format), walks each with `pickle_walk`, and prints one JSON line per import outside the allowed set as it meets
it, then a last line with what stopped it, if anything. Imports found count whatever happens after (a crash, the
timeout): the parent reads them from what the child printed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from modelyard.catalog.enums import ScanResult
from modelyard.catalog.files.pickle_walk import Budget, Import, ScanLimit, Source, Walker, classify

MIB = 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"
NUMPY_MAGIC = b"\x93NUMPY"
# torch.save's legacy format opens with a protocol-2 pickle of its magic number, then four more pickles (protocol
# version, system info, the object, its storage keys) and the raw storages.
LEGACY_TORCH = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
LEGACY_TORCH_PICKLES = 5
PICKLE_SUFFIXES = (".pkl", ".pickle")
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".joblib")
MAX_NESTING = 2  # an archive inside an archive inside the file
MAX_REPORTED = 50  # imports of each kind printed; one is enough for the verdict
MAX_NUMPY_HEADER = MIB
_UNREADABLE = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, OSError, ValueError)


@dataclass(frozen=True)
class ScanLimits:
    timeout_seconds: int
    memory_mb: int
    max_bytes: int
    max_opcodes: int


@dataclass(frozen=True)
class PickleVerdict:
    result: ScanResult
    message: str
    details: dict[str, Any] = field(default_factory=dict)


# --- the parent -----------------------------------------------------------------------------------------------


def scan_in_sandbox(path: Path, limits: ScanLimits) -> PickleVerdict:
    """Scan the file at `path` in a child process. A limit reached is the file's fault: an Error verdict saying
    which, never an exception, so the job is not retried for it."""
    command = [
        sys.executable, "-m", "modelyard.catalog.files.pickle_scan", str(path), str(limits.max_bytes),
        str(limits.max_opcodes), str(limits.memory_mb), str(limits.timeout_seconds),
    ]  # fmt: skip
    # None of the server's settings (database URL, secrets) reach the child: it only reads one file.
    environment = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}
    try:
        finished = subprocess.run(  # noqa: S603 - our own interpreter and module, arguments we built
            command,
            capture_output=True,
            timeout=limits.timeout_seconds,
            env=environment,
            cwd=path.parent,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        return _verdict(expired.stdout or b"", f"the scan timed out after {limits.timeout_seconds} s")
    return _verdict(finished.stdout, _failure(finished.returncode, finished.stderr, limits))


def _failure(returncode: int, stderr: bytes, limits: ScanLimits) -> str | None:
    """Why the child ended without a verdict, or None when it finished."""
    if returncode == 0:
        return None
    if returncode == -signal.SIGXCPU:
        return f"the scan timed out after {limits.timeout_seconds} s of processor time"
    if returncode == -signal.SIGKILL:  # the timeout is handled by the caller: this is the kernel, out of memory
        return f"too large to scan: the scanner ran out of its {limits.memory_mb} MiB of memory"
    if returncode < 0:
        return f"the scanner crashed on this file (signal {-returncode})"
    last = (stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1][:300]
    return f"the scanner failed on this file ({last})"


def _verdict(output: bytes, failure: str | None) -> PickleVerdict:
    dangers: list[str] = []
    odd: list[str] = []
    problems: list[str] = []
    finished = False
    for line in output.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("danger"), str):
            dangers.append(record["danger"])
        elif isinstance(record.get("odd"), str):
            odd.append(record["odd"])
        elif record.get("done") is True:
            finished = True
            problems += [str(problem) for problem in record.get("problems") or []]
    if failure is not None or not finished:
        problems.append(failure or "the scanner stopped without a verdict")
    details = {"imports": dangers, "odd": odd, "problems": problems}
    if dangers:  # whatever else happened: they were found, and loading would make them
        message = f"Imports {_listed(dangers)}, which could run code when the file is loaded"
        return PickleVerdict(ScanResult.Danger, message, details)
    if problems:
        message = f"Could not be scanned ({'; '.join(problems[:5])}): held until a moderator decides"
        return PickleVerdict(ScanResult.Error, message, details)
    if odd:
        importing = _listed(odd, quoted=True)
        message = f"Reads as a pickle importing {importing}, which names no module: held until a moderator decides"
        return PickleVerdict(ScanResult.Error, message, details)
    return PickleVerdict(ScanResult.Success, "No dangerous imports", details)


def _listed(names: list[str], *, quoted: bool = False, shown: int = 10) -> str:
    unique = sorted(set(names))
    parts = [repr(name[:100]) if quoted else name[:100] for name in unique[:shown]]
    return ", ".join(parts) + (f" and {len(unique) - shown} more" if len(unique) > shown else "")


# --- the child ------------------------------------------------------------------------------------------------


class _Report:
    """Prints each import outside the allowed set once, as soon as it is met."""

    def __init__(self) -> None:
        self.printed: dict[str, set[str]] = {"danger": set(), "odd": set()}

    def on_import(self, found: Import) -> None:
        kind = classify(found)
        if kind == "allowed" or found.label in self.printed[kind] or len(self.printed[kind]) >= MAX_REPORTED:
            return
        self.printed[kind].add(found.label)
        _emit({kind: found.label})


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class _Scanner:
    def __init__(self, walker: Walker, workdir: Path) -> None:
        self.walker = walker
        self.workdir = workdir
        self.problems: list[str] = []

    def file(self, path: Path, *, depth: int = 0) -> None:
        with path.open("rb") as stream:
            self.stream(stream, depth=depth, label=path.name if depth else "the file")

    def stream(self, stream: IO[bytes], *, depth: int, label: str) -> None:
        """Every pickle a loader could run from this (seekable) stream."""
        head = stream.read(len(LEGACY_TORCH))
        stream.seek(0)
        if head.startswith(ZIP_MAGIC):
            self._zip(stream, depth=depth, label=label)  # torch.load reads a zip as an archive, never as a pickle
            return
        self._torch_tar(stream, label)
        stream.seek(0)
        source = Source(stream, self.walker.budget)
        legacy = head == LEGACY_TORCH
        if self.walker.walk(source, pickles=1) == 1:
            self.walker.walk(source, pickles=LEGACY_TORCH_PICKLES - 1 if legacy else None)
        if head.startswith(NUMPY_MAGIC):
            stream.seek(0)
            self._numpy(stream)

    def _zip(self, stream: IO[bytes], *, depth: int, label: str) -> None:
        try:
            archive = zipfile.ZipFile(stream)
        except _UNREADABLE as exc:
            self.problems.append(f"{label} is a zip archive that cannot be read ({exc})")
            return
        with archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            # torch's archives: it unpickles data.pkl and reads everything else (data/0, ...) as raw bytes.
            torch_archive = any(info.filename.endswith("data.pkl") for info in members)
            for info in members:  # every entry, so a second entry of the same name is scanned too
                try:
                    self._member(archive, info, torch_archive=torch_archive, depth=depth)
                except _UNREADABLE as exc:
                    self.problems.append(f"{info.filename!r} in {label} cannot be read ({exc})")

    def _member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, torch_archive: bool, depth: int) -> None:
        name = info.filename.lower()
        pickled = name.endswith(PICKLE_SUFFIXES)
        if not pickled and torch_archive:
            return
        if info.file_size > self.walker.budget.bytes_left:
            raise ScanLimit(f"too large to scan: {info.filename!r} unpacks to {info.file_size} bytes")
        with archive.open(info) as member:
            head = member.read(len(LEGACY_TORCH))
        loadable = head.startswith((ZIP_MAGIC, NUMPY_MAGIC)) or (len(head) > 1 and head[0] == 0x80 and head[1] <= 5)
        if not (pickled or loadable or name.endswith(TORCH_SUFFIXES)):
            return
        if depth >= MAX_NESTING:
            self.problems.append(f"{info.filename!r} is nested in archives too deeply to scan")
            return
        if head.startswith(ZIP_MAGIC):  # an archive in the archive: unpacked once, then read like a file
            unpacked = self.workdir / f"member-{depth}"
            with archive.open(info) as member, unpacked.open("wb") as target:
                shutil.copyfileobj(member, target, MIB)
            try:
                self.file(unpacked, depth=depth + 1)
            finally:
                unpacked.unlink()
            return
        with archive.open(info) as member:
            self.stream(member, depth=depth + 1, label=repr(info.filename))

    def _torch_tar(self, stream: IO[bytes], label: str) -> None:
        """torch.load tries a file as its old tar format first: "pickle", "storages" and "tensors" members."""
        try:
            archive = tarfile.open(fileobj=stream, mode="r:")  # noqa: SIM115 - closed below
        except (tarfile.TarError, *_UNREADABLE):
            return
        with archive:
            members = {member.name: member for member in archive.getmembers() if member.isfile()}
            if not {"pickle", "storages", "tensors"} & members.keys():
                return
            for name, pickles in (("pickle", None), ("storages", 2), ("tensors", 2)):
                extracted = archive.extractfile(members[name]) if name in members else None
                if extracted is not None:
                    self.walker.walk(Source(extracted, self.walker.budget), pickles=pickles)
        # Its storages interleave pickles with raw data the walk cannot frame.
        self.problems.append(f"{label} is an old PyTorch tar checkpoint, which the scanner cannot read to its end")

    def _numpy(self, stream: IO[bytes]) -> None:
        """numpy's .npy: an object array is a pickle after the header, which np.load(allow_pickle=True) runs."""
        head = stream.read(len(NUMPY_MAGIC) + 2)
        width = 2 if head[-2:-1] == b"\x01" else 4
        size = int.from_bytes(stream.read(width), "little")
        if size > MAX_NUMPY_HEADER:
            self.problems.append(f"its numpy header claims {size} bytes")
            return
        if b"O" in stream.read(size):  # the dtype names objects ('|O'): the data is a pickle
            self.walker.walk(Source(stream, self.walker.budget), pickles=1)


def _limit_resources(memory_mb: int, cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MIB, memory_mb * MIB))


def main(arguments: list[str]) -> int:
    path, max_bytes, max_opcodes, memory_mb, cpu_seconds = arguments
    _limit_resources(int(memory_mb), int(cpu_seconds))
    budget = Budget(max_bytes=int(max_bytes), max_opcodes=int(max_opcodes))
    walker = Walker(budget, _Report().on_import)
    problems: list[str] = []
    out_of_memory = False
    try:
        with tempfile.TemporaryDirectory(dir=Path(path).parent) as workdir:
            scanner = _Scanner(walker, Path(workdir))
            try:
                scanner.file(Path(path))
            finally:
                problems = scanner.problems
    except ScanLimit as limit:
        problems.append(limit.reason)
    except MemoryError:
        out_of_memory = True  # reported below, once the walk's memory is released with the traceback
    if out_of_memory:
        problems.append(f"too large to scan: it needs over {memory_mb} MiB of memory")
    _emit({"done": True, "problems": problems, "bytes": budget.bytes_used, "opcodes": budget.opcodes_used})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
