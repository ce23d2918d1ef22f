"""Walking a pickle's opcodes without running it, to find every import that loading it could make.

The walk consumes exactly the bytes an unpickler consumes for each opcode, but never refuses an argument's value
(an odd number, an unquoted string, an unsupported protocol). So it reads at least as far as any unpickler: where
the walk stops (an unknown opcode, a truncated argument, a memo entry that cannot exist), loading stops too, and
every import that loading could make before that point has been seen. A broken pickle therefore hides nothing.

Imports come from GLOBAL and INST, from STACK_GLOBAL (its two strings followed through the memo, as picklescan
does) and from the copyreg extension codes. Memory stays bounded whatever the file: arguments are skipped, not
held, except short strings (the candidates for module and attribute names), and the memo keeps only those. Every
byte read and every opcode counts against a `Budget`, so a file costs a bounded amount of work too.
"""

from __future__ import annotations

import codecs
import pickletools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

# Longer strings cannot be module or attribute names worth matching: they are skipped and count as unknown.
MAX_NAME = 512
_BLOCK = 1024 * 1024

# What loading a checkpoint needs to import: the rebuild functions of torch, numpy and collections (the set
# picklescan calls safe). Anything else is Danger: a pickle that imports it could run code when loaded.
_STORAGES = (
    "Long", "Float", "Half", "QUInt2x4", "QUInt4x2", "QInt32", "QInt8", "QUInt8", "ComplexFloat", "ComplexDouble",
    "Double", "BFloat16", "Bool", "Char", "Short", "Int", "Byte",
)  # fmt: skip
ALLOWED_IMPORTS: frozenset[tuple[str, str]] = frozenset(
    {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2")}
    | {("numpy", name) for name in ("dtype", "ndarray")}
    | {(module, "_reconstruct") for module in ("numpy.core.multiarray", "numpy._core.multiarray")}
    | {("torch", f"{kind}Storage") for kind in _STORAGES}
)


class ScanLimit(Exception):
    """The file needs more work than the scan allows; `reason` says which limit, in words for a moderator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Budget:
    """Bytes and opcodes one scan may spend, over every pickle in the file (zip members included)."""

    def __init__(self, *, max_bytes: int, max_opcodes: int) -> None:
        self.max_bytes, self.max_opcodes = max_bytes, max_opcodes
        self.bytes_left, self.opcodes_left = max_bytes, max_opcodes

    def spend_bytes(self, count: int) -> None:
        self.bytes_left -= count
        if self.bytes_left < 0:
            raise ScanLimit(f"too large to scan: over {self.max_bytes} bytes of pickle data")

    def spend_opcodes(self, count: int) -> None:
        self.opcodes_left -= count
        if self.opcodes_left < 0:
            raise ScanLimit(f"too large to scan: over {self.max_opcodes} pickle operations")

    @property
    def bytes_used(self) -> int:
        return self.max_bytes - self.bytes_left

    @property
    def opcodes_used(self) -> int:
        return self.max_opcodes - self.opcodes_left


class Source:
    """A stream read in 1 MiB blocks, every byte charged to the budget; reads never ask for more than a block, so
    a length field claiming terabytes costs nothing until the bytes are really there."""

    def __init__(self, raw: IO[bytes], budget: Budget) -> None:
        self._raw, self._budget = raw, budget
        self._buffer, self._position = b"", 0

    def _fill(self) -> bool:
        block = self._raw.read(_BLOCK)
        self._budget.spend_bytes(len(block))
        self._buffer, self._position = block, 0
        return bool(block)

    def byte(self) -> int:
        """The next byte, or -1 at the end."""
        if self._position >= len(self._buffer) and not self._fill():
            return -1
        value = self._buffer[self._position]
        self._position += 1
        return value

    def take(self, count: int, *, keep: int) -> tuple[bytes, int]:
        """Consume up to `count` bytes: (the first `keep` of them, how many were there)."""
        kept, taken = [], 0
        while taken < count:
            if self._position >= len(self._buffer) and not self._fill():
                break
            piece = self._buffer[self._position : self._position + (count - taken)]
            self._position += len(piece)
            if taken < keep:
                kept.append(piece[: keep - taken])
            taken += len(piece)
        return b"".join(kept), taken

    def line(self, *, keep: int) -> tuple[bytes, bool]:
        """Consume a line as an unpickler does (through its newline, or to the end): (its first `keep` bytes
        newline included, whether it ended with a newline)."""
        kept: list[bytes] = []
        held = 0
        while True:
            if self._position >= len(self._buffer) and not self._fill():
                return b"".join(kept), False
            end = self._buffer.find(b"\n", self._position)
            stop = len(self._buffer) if end < 0 else end + 1
            if held < keep:
                kept.append(self._buffer[self._position : min(stop, self._position + keep - held)])
                held += len(kept[-1])
            self._position = stop
            if end >= 0:
                return b"".join(kept), True


@dataclass(frozen=True)
class Import:
    """What a pickle imports: `module` and `name` are None where the walk cannot tell (a computed name)."""

    module: str | None
    name: str | None
    opcode: str

    @property
    def label(self) -> str:
        if self.opcode.startswith("EXT"):
            return f"copyreg extension code {self.name}"
        return f"{self.module or '?'}.{self.name or '?'}"


# Opcode kinds, by what the walk must do with them.
(
    _STOP, _SKIP, _LINE, _COUNTED, _STRING, _STRING_LINE, _UNICODE_LINE, _GET, _GET_LINE, _PUT, _PUT_LINE,
    _MEMOIZE, _GLOBAL, _STACK_GLOBAL, _EXT, _MARK, _NO_VALUE, _VALUE,
) = range(18)  # fmt: skip
_LENGTH_FORMATS = {1: "<B", 4: "<i", -4: "<I", 8: "<Q"}  # byte count -> struct format; -4 is the unsigned one
_SPECIAL = {
    "STOP": _STOP, "STRING": _STRING_LINE, "UNICODE": _UNICODE_LINE, "GET": _GET_LINE, "PUT": _PUT_LINE,
    "BINGET": _GET, "LONG_BINGET": _GET, "BINPUT": _PUT, "LONG_BINPUT": _PUT, "MEMOIZE": _MEMOIZE,
    "GLOBAL": _GLOBAL, "INST": _GLOBAL, "STACK_GLOBAL": _STACK_GLOBAL, "EXT1": _EXT, "EXT2": _EXT, "EXT4": _EXT,
    "MARK": _MARK, "PROTO": _NO_VALUE, "FRAME": _NO_VALUE,
    "BINSTRING": _STRING, "SHORT_BINSTRING": _STRING, "BINUNICODE": _STRING, "SHORT_BINUNICODE": _STRING,
    "BINUNICODE8": _STRING,
}  # fmt: skip


@dataclass(frozen=True)
class _Op:
    name: str
    kind: int
    size: int  # fixed argument size, or the size of the length prefix for counted ones
    length_format: str = ""


def _table() -> dict[int, _Op]:
    sizes = {
        pickletools.TAKEN_FROM_ARGUMENT1: 1,
        pickletools.TAKEN_FROM_ARGUMENT4: 4,
        pickletools.TAKEN_FROM_ARGUMENT4U: -4,
        pickletools.TAKEN_FROM_ARGUMENT8U: 8,
    }
    table = {}
    for op in pickletools.opcodes:
        n = op.arg.n if op.arg is not None else 0
        kind = _SPECIAL.get(op.name)
        if n in sizes:
            size = sizes[n]
            table[ord(op.code)] = _Op(op.name, _COUNTED if kind is None else kind, abs(size), _LENGTH_FORMATS[size])
        elif n == pickletools.UP_TO_NEWLINE:
            table[ord(op.code)] = _Op(op.name, _LINE if kind is None else kind, 0)
        else:
            table[ord(op.code)] = _Op(op.name, kind if kind is not None else (_SKIP if n else _VALUE), n)
    return table


OPCODES = _table()
_UNICODE_OPS = frozenset({"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"})


def _name_text(raw: bytes) -> str | None:
    """A str an unpickler could build from these bytes whatever its `encoding`: ASCII only, else unknown."""
    return raw.decode("ascii") if raw.isascii() else None


def _quoted(line: bytes) -> str | None:
    """The value of a protocol-0 STRING argument (quoted, with escapes), or None where it cannot be told."""
    if len(line) < 2 or line[0] not in b"'\"" or line[-1] != line[0]:
        return None
    try:
        return _name_text(codecs.escape_decode(line[1:-1])[0])
    except ValueError:
        return None


def _raw_unicode(line: bytes) -> str | None:
    try:
        return line.decode("raw-unicode-escape")
    except UnicodeDecodeError:
        return None


def _decimal(line: bytes) -> int | None:
    try:
        return int(line.strip())
    except ValueError:
        return None


class _Memo:
    """An unpickler's memo of the strings it could hand to STACK_GLOBAL (None for any other value). Keys from
    MEMOIZE count up from 0, as in protocol 4 and later: those go in a list, 8 bytes an entry as in the unpickler
    itself; PUT's arbitrary keys go in a dict beside it."""

    def __init__(self) -> None:
        self._dense: list[str | None] = []
        self._sparse: dict[int, str | None] = {}

    def __len__(self) -> int:
        return len(self._dense) + len(self._sparse)  # sparse keys are all past the dense ones

    def __contains__(self, key: int) -> bool:
        return key < len(self._dense) or key in self._sparse

    def __getitem__(self, key: int) -> str | None:
        return self._dense[key] if key < len(self._dense) else self._sparse[key]

    def __setitem__(self, key: int, value: str | None) -> None:
        dense = self._dense
        if key < len(dense):
            dense[key] = value
        elif key == len(dense):
            dense.append(value)
            self._sparse.pop(key, None)
            while len(dense) in self._sparse:
                dense.append(self._sparse.pop(len(dense)))
        else:
            self._sparse[key] = value


class _Broken(Exception):
    """Loading stops here too (an unknown opcode, the end of the data, a value that cannot exist)."""


class Walker:
    """Walks pickles one after another, calling `on_import` with each import met."""

    def __init__(self, budget: Budget, on_import: Callable[[Import], None]) -> None:
        self.budget = budget
        self.on_import = on_import

    def walk(self, source: Source, *, pickles: int | None = None) -> int:
        """Walk up to `pickles` pickles (all of them when None) until the data ends or loading would fail; the
        number walked to their STOP."""
        complete = 0
        while pickles is None or complete < pickles:
            try:
                self._one(source)
            except _Broken:
                return complete
            complete += 1
        return complete

    def _one(self, source: Source) -> None:
        # One unpickler's state: its memo, the two values on top of its stack (None: not a known string), and how
        # many values it has pushed (a STACK_GLOBAL or PUT with fewer underflows the stack, which stops loading).
        memo = _Memo()
        memo_exact = True  # False once a memo key could not be read: a missing key may then exist after all
        below: str | None = None
        top: str | None = None
        pushed = 0
        while True:
            code = source.byte()
            if code < 0:
                raise _Broken
            self.budget.spend_opcodes(1)
            op = OPCODES.get(code)
            if op is None:
                raise _Broken
            kind = op.kind
            if kind == _STOP:
                return
            value: str | None = None
            if kind in (_MARK, _NO_VALUE, _PUT, _PUT_LINE, _MEMOIZE):
                if kind == _NO_VALUE:
                    self._take(source, op.size)
                elif kind != _MARK:
                    if pushed == 0:
                        raise _Broken
                    key = self._memo_key(source, op, len(memo))
                    if key is None:
                        memo_exact = False
                    else:
                        memo[key] = top
                continue
            if kind == _SKIP:
                self._take(source, op.size)
            elif kind == _LINE:
                source.line(keep=0)
            elif kind == _COUNTED:
                self._take(source, self._length(source, op))
            elif kind == _STRING:
                raw, taken = source.take(length := self._length(source, op), keep=MAX_NAME)
                if taken < length:
                    raise _Broken
                if length <= MAX_NAME:
                    value = self._decode(op, raw)
            elif kind in (_STRING_LINE, _UNICODE_LINE):
                line, _ = source.line(keep=MAX_NAME + 1)
                if len(line) <= MAX_NAME:
                    text = line[:-1] if line.endswith(b"\n") else line
                    value = _quoted(text) if kind == _STRING_LINE else _raw_unicode(text)
            elif kind in (_GET, _GET_LINE):
                key = self._memo_key(source, op, len(memo))
                if key is not None and key in memo:
                    value = memo[key]
                elif memo_exact and key is not None:
                    raise _Broken  # "Memo value not found": loading stops here
            elif kind == _GLOBAL:
                module, name = self._line_name(source), self._line_name(source)
                self.on_import(Import(module, name, op.name))
            elif kind == _STACK_GLOBAL:
                if pushed < 2:
                    raise _Broken
                self.on_import(Import(below, top, op.name))
            elif kind == _EXT:
                raw = self._take(source, op.size, keep=op.size)
                self.on_import(Import(None, str(int.from_bytes(raw, "little", signed=op.size == 4)), op.name))
            below, top = top, value
            pushed += 1

    def _take(self, source: Source, count: int, *, keep: int = 0) -> bytes:
        kept, taken = source.take(count, keep=keep)
        if taken < count:
            raise _Broken  # truncated: the unpickler fails here too
        return kept

    def _length(self, source: Source, op: _Op) -> int:
        (length,) = struct.unpack(op.length_format, self._take(source, op.size, keep=op.size))
        if length < 0 or length > 2**63 - 1:
            raise _Broken  # a negative or impossible byte count: the unpickler refuses it
        return int(length)

    def _memo_key(self, source: Source, op: _Op, memo_length: int) -> int | None:
        if op.kind == _MEMOIZE:
            return memo_length
        if op.kind in (_GET_LINE, _PUT_LINE):
            line, _ = source.line(keep=64)
            key = _decimal(line)
            if key is not None and key < 0:
                raise _Broken  # a negative memo index: the unpickler refuses it
            return key
        return int.from_bytes(self._take(source, op.size, keep=op.size), "little")

    def _line_name(self, source: Source) -> str:
        line, _ = source.line(keep=MAX_NAME + 2)
        # An unpickler drops the line's last byte, taking it for the newline, even at the end of the data.
        text = line[:-1]
        return text[:MAX_NAME].decode("utf-8", "surrogateescape") + ("…" if len(text) > MAX_NAME else "")

    @staticmethod
    def _decode(op: _Op, raw: bytes) -> str | None:
        if op.name in _UNICODE_OPS:
            try:
                return raw.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                return None
        return _name_text(raw)


def classify(found: Import) -> str:
    """What an import means: `allowed`, `danger` (anything importable outside the allowed set, or unknown), or
    `odd`: a module name no import can resolve (spaces, colons: usually text read as a protocol-0 pickle), which a
    moderator judges."""
    module, name = found.module, found.name
    if module is None or name is None:
        return "danger"
    if (module, name) in ALLOWED_IMPORTS:
        return "allowed"
    shown = module.removesuffix("…")  # a name cut short is judged by the part kept
    if any(mark in shown for mark in ("/", "\\", "..")) or shown.startswith("."):
        return "danger"  # a path (json/../os): an import system may still find a file there
    if all(part.isidentifier() for part in shown.split(".")):
        return "danger"
    return "odd"
