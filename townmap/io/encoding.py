"""Which text encoding a file uses: UTF-8, or GBK/GB18030 as Chinese GIS files often are.

A Shapefile's ``.cpg`` names its encoding and is honoured; without one, the attribute
bytes are tried as UTF-8 (which rarely decodes by accident) and then as GB18030 (a
superset of GBK). The guess is reported with a preview so the user can override it.
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from pathlib import Path

#: .cpg spellings seen in the wild → Python codec names
_CPG = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "65001": "utf-8",
    "gbk": "gbk",
    "936": "gbk",
    "cp936": "gbk",
    "gb2312": "gbk",
    "gb18030": "gb18030",
    "54936": "gb18030",
    "big5": "big5",
    "950": "big5",
    "iso-8859-1": "latin-1",
    "latin1": "latin-1",
    "1252": "cp1252",
    "ansi 1252": "cp1252",
}


@dataclass(frozen=True)
class EncodingGuess:
    encoding: str
    confident: bool
    reason: str
    preview: str = ""
    #: "replace" when a few undecodable bytes in otherwise valid UTF-8 become U+FFFD
    errors: str = "strict"


def detect_bytes(raw: bytes, sample: int = 65_536) -> EncodingGuess:
    """Guess the encoding of some text bytes (only the first ``sample`` bytes are used)."""
    chunk = raw[:sample]
    if chunk.startswith(codecs.BOM_UTF8):
        return EncodingGuess(
            "utf-8-sig", True, "UTF-8 byte-order mark", chunk[3:].decode("utf-8", "replace")[:200]
        )
    if len(raw) > sample:  # do not judge a multi-byte character cut at the end
        cut = max(chunk.rfind(b"\n"), chunk.rfind(b" "))
        chunk = chunk[: cut + 1] if cut > 0 else chunk
    try:
        text = chunk.decode("utf-8")
        ascii_only = all(b < 0x80 for b in chunk)
        return EncodingGuess(
            "utf-8", True, "plain ASCII" if ascii_only else "valid UTF-8", text[:200]
        )
    except UnicodeDecodeError:
        pass
    text = chunk.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = sum(1 for c in text if ord(c) > 0x7F and c != "\ufffd")
    if good >= 3 * bad:  # real UTF-8 text with a few broken bytes (GBK would give many)
        return EncodingGuess(
            "utf-8",
            False,
            f"UTF-8 with {bad} undecodable byte(s) shown as �",
            text[:200],
            errors="replace",
        )
    try:
        text = chunk.decode("gb18030")
        return EncodingGuess("gb18030", True, "not UTF-8; decodes as GB18030/GBK", text[:200])
    except UnicodeDecodeError:
        return EncodingGuess(
            "latin-1",
            False,
            "neither UTF-8 nor GB18030; shown as Latin-1",
            chunk.decode("latin-1")[:200],
        )


def cpg_encoding(cpg: Path) -> str | None:
    """The codec a ``.cpg`` names, or None when it is missing, empty or unknown."""
    try:
        name = cpg.read_text(encoding="ascii", errors="replace").strip().lower()
    except OSError:
        return None
    return _CPG.get(name)


def _dbf_records(dbf: Path, limit: int = 262_144) -> bytes:
    with open(dbf, "rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            return b""
        header_len = struct.unpack("<H", head[8:10])[0]
        fh.seek(header_len)
        return fh.read(limit)


def shapefile_encoding(shp: Path) -> EncodingGuess:
    """The encoding of a Shapefile's attributes: its ``.cpg`` if any, else a guess."""
    cpg = cpg_encoding(shp.with_suffix(".cpg"))
    dbf = shp.with_suffix(".dbf")
    records = _dbf_records(dbf) if dbf.is_file() else b""
    if cpg is not None:
        return EncodingGuess(cpg, True, ".cpg file", records.decode(cpg, "replace")[:200])
    guess = detect_bytes(records)
    return EncodingGuess(guess.encoding, guess.confident, f"no .cpg: {guess.reason}", guess.preview)
