"""Which text encoding a file uses: UTF-8, or GBK/GB18030 as Chinese GIS files often are.

A Shapefile's ``.cpg`` names its encoding and is honoured, in any of the spellings GIS
programs write (``UTF-8``, ``ANSI 936``, ``CP936``, ``936``, ``GB2312``, ``88591``…);
without one, the attribute bytes are tried as UTF-8 (which rarely decodes by accident)
and then as GB18030 (a superset of GBK). The guess is reported with a preview so the
user can override it.

Attribute text is decoded here, not by GDAL: GDAL's ``SHAPE_ENCODING`` takes iconv
names, and a Python codec name it does not know (``latin-1``) made it pass the bytes on
undecoded, so every read failed as "invalid UTF-8" whatever encoding was chosen. GDAL
is therefore asked for ISO-8859-1 (``TRANSPARENT``), which maps each byte to one
character and back, and the bytes are decoded with Python's codec — which also lets a
wrong ``.cpg`` be noticed and a few broken values be reported instead of failing a file.
"""

from __future__ import annotations

import codecs
import re
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from townmap.errors import UploadError

#: the one encoding name GDAL and Python both read as "each byte is one character"
TRANSPARENT = "ISO-8859-1"

#: Windows code pages (what ``ANSI 936``, ``CP936`` or a bare ``936`` name) → codecs
_CODE_PAGES = {
    "936": "gbk",
    "20936": "gbk",  # GB2312: files so labelled hold GBK characters too
    "54936": "gb18030",
    "65001": "utf-8",
    "950": "big5",
    "28591": "latin-1",
    "88591": "latin-1",  # ArcGIS writes ISO 8859-1 so
    "932": "cp932",
    "949": "cp949",
    "437": "cp437",
    "850": "cp850",
    "866": "cp866",
    "874": "cp874",
    **{str(n): f"cp{n}" for n in range(1250, 1259)},
}
#: names spelled differently from Python's, or better read as a superset
_NAMES = {
    "utf8": "utf-8",
    "unicode": "utf-8",
    "gb2312": "gbk",
    "euccn": "gbk",
    "gbk": "gbk",
    "gb18030": "gb18030",
    "big5": "big5",
    "latin1": "latin-1",
    "iso88591": "latin-1",
    "88591": "latin-1",
}
_PAGE = re.compile(r"^(?:ansi|cp|windows|win|ms|codepage|code page|ibm)?[\s_\-]*(\d{3,5})$")
#: encodings that are the same characters for the GBK range; the first reads every GBK file
_GBK_FAMILY = {"gbk", "gb2312", "cp936"}


@dataclass(frozen=True)
class EncodingGuess:
    encoding: str
    confident: bool
    reason: str
    preview: str = ""
    #: "replace" when a few undecodable bytes in otherwise valid UTF-8 become U+FFFD
    errors: str = "strict"
    #: the text of the ``.cpg`` (or the user's choice) this guess comes from, if any
    declared: str = ""


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
        ascii_only = chunk.isascii()
        return EncodingGuess(
            "utf-8", True, "plain ASCII" if ascii_only else "valid UTF-8", text[:200]
        )
    except UnicodeDecodeError:
        pass
    text = chunk.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad  # non-ASCII, not �
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


def codec_for(name: str) -> str | None:
    """The Python codec for an encoding name as GIS files and users write it (``ANSI
    936``, ``CP936``, ``UTF8``, ``GB2312``, ``ISO-8859-1``…), or None if it names none."""
    text = name.replace("\ufeff", "").strip().strip("\x00").strip().lower()
    if not text:
        return None
    page = _PAGE.match(text)
    if page:
        return _CODE_PAGES.get(page.group(1))
    squeezed = re.sub(r"[\s_\-]", "", text)
    if squeezed in _NAMES:
        return _NAMES[squeezed]
    try:
        info = codecs.lookup(text)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64…: not text encodings
        return None
    return "gbk" if info.name in _GBK_FAMILY else info.name


def user_codec(name: str) -> str:
    """The codec for an encoding the user chose, or a one-line error naming good ones."""
    codec = codec_for(name)
    if codec is None:
        raise UploadError(
            f"{name!r} is not an encoding Townmap knows; use e.g. utf-8, gbk, gb18030, "
            "big5 or latin-1"
        )
    return codec


def read_cpg(cpg: Path) -> tuple[str | None, str | None]:
    """(the text of a ``.cpg``, the codec it names); (None, None) when there is no file."""
    try:
        raw = cpg.read_bytes()
    except OSError:
        return None, None
    text = raw.decode("ascii", errors="replace").replace("\ufffd", "").strip()
    text = text.removeprefix("\ufeff")
    return text, codec_for(raw.removeprefix(codecs.BOM_UTF8).decode("ascii", "replace"))


def cpg_encoding(cpg: Path) -> str | None:
    """The codec a ``.cpg`` names, or None when it is missing, empty or unknown."""
    return read_cpg(cpg)[1]


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
    text, cpg = read_cpg(_sibling(shp, ".cpg"))
    dbf = _sibling(shp, ".dbf")
    records = _dbf_records(dbf) if dbf.is_file() else b""
    if cpg is not None:
        preview = records.decode(cpg, "replace")[:200]
        return EncodingGuess(cpg, True, ".cpg file", preview, declared=text or "")
    guess = detect_bytes(records)
    reason = (
        f"no .cpg: {guess.reason}"
        if text is None
        else (f".cpg says {text!r}, which names no encoding Townmap knows: {guess.reason}")
    )
    return EncodingGuess(guess.encoding, guess.confident, reason, guess.preview, guess.errors)


def _sibling(path: Path, suffix: str) -> Path:
    """``path`` with another suffix, in whichever case the file on disk has it."""
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.exists():
            return candidate
    return path.with_suffix(suffix)


# --- decoding attribute text read byte-for-byte (TRANSPARENT) ------------------------------


@dataclass
class Decoded:
    """Text columns decoded with one encoding, and what did not fit it."""

    frame: pd.DataFrame
    encoding: str
    #: (frame position, column) of values with bytes the encoding cannot read (shown as �)
    bad: list[tuple[int, str]] = field(default_factory=list)
    #: set when the declared encoding does not fit the bytes but this one reads them all
    instead: EncodingGuess | None = None
    #: how the encoding was arrived at, for a note
    how: str = ""


def _text_columns(frame: pd.DataFrame) -> list:
    """Columns that may hold text (object or string dtype; never the geometry)."""
    geometry = getattr(frame, "_geometry_column_name", None)
    kinds = (pd.api.types.is_object_dtype, pd.api.types.is_string_dtype)
    return [c for c in frame.columns if c != geometry and any(k(frame[c]) for k in kinds)]


def _raw_values(frame: pd.DataFrame) -> dict[str, tuple[list[int], list[bytes]]]:
    """The non-ASCII text of each column: (frame positions, the bytes it was read from)."""
    out = {}
    for col in _text_columns(frame):
        values = frame[col].to_numpy(dtype=object)
        odd = [i for i, v in enumerate(values) if isinstance(v, str) and not v.isascii()]
        if odd:
            out[col] = (odd, [values[i].encode("latin-1", "replace") for i in odd])
    return out


#: joins values so that one decode call reads them all: a control character no value
#: holds, that is one byte in the ASCII-compatible encodings and never a trail byte
_SEP = "\x1f"


def _decode_all(values: list[bytes], encoding: str) -> list[str] | None:
    """Every value decoded in one call, or None when that cannot be trusted (a value holds
    the separator, the encoding is not ASCII-compatible, or some value does not decode);
    one call instead of 100,000 is most of an import's decoding time."""
    try:
        if _SEP.encode(encoding) != _SEP.encode() or _SEP.encode() in b"".join(values):
            return None
        parts = _SEP.encode().join(values).decode(encoding).split(_SEP)
    except (UnicodeError, LookupError):
        return None
    return parts if len(parts) == len(values) else None


def _fits(values: list[bytes], encoding: str) -> bool:
    if _decode_all(values, encoding) is not None:
        return True
    try:
        for b in values:
            b.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def common_name(encoding: str, values: list[bytes]) -> str:
    """The name to suggest to a user: ``gbk`` (what Chinese GIS programs call it) when
    GB18030 was detected but GBK reads every value."""
    return "gbk" if encoding == "gb18030" and _fits(values, "gbk") else encoding


def decode_text(frame: pd.DataFrame, declared: str | None) -> Decoded:
    """Decode the text columns (and names) of a frame read with ``TRANSPARENT``.

    ``declared`` is the encoding a ``.cpg`` or the user named; None means guess from all
    of the text. A declared encoding that fails where another reads every value is
    reported (``instead``), not applied: the caller tells the user what to choose.
    """
    raw = _raw_values(frame)
    names = [c for c in frame.columns if isinstance(c, str) and not c.isascii()]
    every = [b for _, values in raw.values() for b in values]
    every += [n.encode("latin-1", "replace") for n in names]
    joined = b"\n".join(every)
    if declared is None:
        guess = detect_bytes(joined, sample=max(len(joined), 1))
        encoding, how = guess.encoding, guess.reason
    else:
        encoding, how = declared, ""
    if not _fits(every, encoding):
        alt = detect_bytes(joined, sample=max(len(joined), 1))
        if encoding in _GBK_FAMILY and _fits(every, "gb18030"):
            encoding, how = "gb18030", "characters beyond GBK: read as GB18030, its superset"
        elif alt.confident and alt.encoding != encoding and _fits(every, alt.encoding):
            if declared is not None:
                preview = alt.preview.replace("\n", " / ")
                suggested = replace(alt, encoding=common_name(alt.encoding, every), preview=preview)
                return Decoded(frame, encoding, instead=suggested)
            encoding, how = alt.encoding, alt.reason
    out = frame.copy()
    bad: list[tuple[int, str]] = []
    for col, (positions, values) in raw.items():
        column = out[col].to_numpy(dtype=object, copy=True)
        decoded = _decode_all(values, encoding)
        if decoded is not None:
            column[positions] = decoded
            out[col] = column
            continue
        for i, b in zip(positions, values, strict=True):
            try:
                column[i] = b.decode(encoding)
            except UnicodeDecodeError:
                column[i] = b.decode(encoding, "replace")
                bad.append((i, str(col)))
        out[col] = column
    rename = {n: n.encode("latin-1", "replace").decode(encoding, "replace") for n in names}
    if rename:
        out = out.rename(columns=rename)
    bad = sorted((i, rename.get(c, c)) for i, c in bad)
    return Decoded(out, encoding, bad, how=how)


# --- NUL characters --------------------------------------------------------------------------


def clean_nul(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Remove NUL padding at the end of text values and replace any other NUL by U+FFFD.

    A GeoPackage (SQLite) or GDAL cuts text at a NUL, silently dropping the rest. NULs
    at the end are padding from fixed-width exports and carry nothing; one inside a value
    becomes U+FFFD, so the value visibly shows that a character was there and no two
    words are silently glued together. Returns the frame and the (position, column) of
    every value changed (column names are cleaned too; a changed name is at position -1).
    """
    changed: list[tuple[int, str]] = []
    out = frame
    for col in _text_columns(frame):
        text = frame[col]
        if "\x00" not in "".join(v for v in text.to_numpy(dtype=object) if isinstance(v, str)):
            continue  # one scan of the column's text: the common case has no NUL
        has = text.map(lambda v: isinstance(v, str) and "\x00" in v)
        if out is frame:
            out = frame.copy()
        out.loc[has, col] = text[has].map(lambda v: v.rstrip("\x00").replace("\x00", "\ufffd"))
        changed += [(int(i), str(col)) for i in has.to_numpy().nonzero()[0]]
    names = {
        c: c.rstrip("\x00").replace("\x00", "\ufffd")
        for c in frame.columns
        if isinstance(c, str) and "\x00" in c
    }
    if names:
        out = out.rename(columns=names)
        changed += [(-1, names[c]) for c in names]
    return out, sorted(changed)
