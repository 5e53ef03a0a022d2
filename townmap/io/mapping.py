"""From a file's columns to a layer's attributes: the mapping, fixed values, value labels
and generated keys.

A consultant's district file has ``district`` where the villages layer wants
``name_zh`` and ``name_en``, no ``basin`` at all (every row is in the Taihu basin) and
行业 written as 印染 rather than ``printing_dyeing``. The mapping is ``attribute ->
column`` (one column may fill several attributes); fixed values fill an attribute for
every row; labels Townmap itself shows map back to their codes; a missing key is
generated. Everything done is said in a note; every value refused is a row problem.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import pandas as pd

from townmap.catalog import LayerSpec
from townmap.errors import UploadError
from townmap.i18n import value_label


def parse_pairs(pairs: list[str] | None, what: str) -> list[tuple[str, str]]:
    """``["SRC=DST", …]`` (or ``DST=VALUE``) as pairs; a pair without ``=`` is refused."""
    out = []
    for pair in pairs or []:
        left, sep, right = pair.partition("=")
        if not sep or not left.strip() or (what == "--map" and not right.strip()):
            example = "district=name_zh" if what == "--map" else "basin=taihu"
            raise UploadError(f"{what} takes NAME=VALUE, e.g. {what} {example}; not {pair!r}")
        out.append((left.strip(), right.strip()))
    return out


def mapping_from_pairs(pairs: list[tuple[str, str]], spec: LayerSpec) -> dict[str, str]:
    """``--map SRC=DST`` pairs as ``attribute -> column`` (one SRC may fill many DST)."""
    names = {a.name for a in spec.attributes}
    mapping: dict[str, str] = {}
    for src, dst in pairs:
        if dst not in names:
            raise UploadError(
                f"--map {src}={dst}: {spec.id!r} has no attribute {dst!r}; "
                f"it has {', '.join(sorted(names))}"
            )
        mapping[dst] = src
    return mapping


def check_fixed(fixed: dict[str, str], spec: LayerSpec) -> None:
    names = {a.name for a in spec.attributes}
    unknown = sorted(set(fixed) - names)
    if unknown:
        raise UploadError(
            f"--set names attribute(s) {unknown} that {spec.id!r} does not have; "
            f"it has {', '.join(sorted(names))}"
        )


def apply_mapping(
    frame: pd.DataFrame, mapping: dict[str, str], fixed: dict[str, str], spec: LayerSpec
) -> pd.DataFrame:
    """The file's rows with the layer's attribute names; every attribute the file does not
    give is an empty column (so analyses see the attribute, empty)."""
    out = pd.DataFrame(index=frame.index)
    for attr in spec.attributes:
        if attr.name in fixed:
            out[attr.name] = fixed[attr.name]
        elif attr.name in mapping:
            out[attr.name] = frame[mapping[attr.name]].to_numpy()
        else:
            out[attr.name] = pd.Series(pd.NA, index=frame.index, dtype="object")
    return out


def _norm(text: object) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(text)).casefold().strip())


def codes_from_labels(
    spec: LayerSpec,
    frame: pd.DataFrame,
    row_label: Callable[[object], str],
    problems: list[str],
    notes: list[str],
) -> pd.DataFrame:
    """Values written as Townmap's own labels (印染, "Printing & dyeing") become codes;
    an unknown value is a row problem naming the allowed labels, and is left empty."""
    for attr in spec.attributes:
        if attr.choices is None or attr.name not in frame.columns:
            continue
        lookup: dict[str, str] = {}
        for code in attr.choices:
            for text in (code, value_label(code, "zh"), value_label(code, "en")):
                lookup.setdefault(_norm(text), code)
        col = frame[attr.name]
        present = col.notna() & (col.astype(str).str.strip() != "")
        text = col[present].astype(str)
        # a column holds few distinct values: normalise each once, not once per row
        table = {v: lookup.get(_norm(v)) for v in pd.unique(text.to_numpy())}
        mapped = text.map(table)
        relabelled = int((mapped.notna() & (mapped != text)).sum())
        unknown = mapped.isna()
        if unknown.any():
            allowed = ", ".join(
                f"{value_label(c, 'zh')} / {value_label(c, 'en')}" for c in attr.choices
            )
            for idx in mapped.index[unknown][:20]:
                problems.append(
                    f"{row_label(idx)}: '{attr.name}' value {col[idx]!r} is not one of the "
                    f"known values ({allowed}); left empty"
                )
            if unknown.sum() > 20:
                problems.append(f"… and {int(unknown.sum()) - 20} more unknown '{attr.name}'")
        values = pd.Series(pd.NA, index=frame.index, dtype="object")
        values[present] = mapped
        frame[attr.name] = values.where(values.notna(), None)
        if relabelled:
            notes.append(f"{relabelled} '{attr.name}' value(s) written as labels mapped to codes")
    return frame


def key_prefix(spec: LayerSpec) -> str:
    """``V`` for village_id, ``E`` for ent_id; ``F`` for the key Townmap adds itself."""
    from townmap.own_layers import GENERATED_KEY

    return "F" if spec.key == GENERATED_KEY else (spec.key or spec.id)[:1].upper()


def generate_keys(
    spec: LayerSpec, frame: pd.DataFrame, taken: pd.Series | None, notes: list[str]
) -> pd.DataFrame:
    """Fill missing keys with ``V001…`` (continuing after keys already in the layer)."""
    key = spec.key
    if key is None or key not in frame.columns:
        return frame
    col = frame[key]
    missing = col.isna() | (col.astype(str).str.strip() == "")
    if not missing.any():
        return frame
    prefix = key_prefix(spec)
    used = pd.concat([col[~missing].astype(str), taken.astype(str) if taken is not None else None])
    digits = used.str.extract(rf"^{re.escape(prefix)}(\d+)$")[0].dropna()
    numbers = digits.astype(int)
    start = int(numbers.max()) + 1 if len(numbers) else 1
    count = int(missing.sum())
    # the layer's own width (E00001 → E00601, not E601): keys sort and read alike
    own_width = int(digits.str.len().max()) if len(digits) else 3
    width = max(own_width, len(str(start + count - 1)))
    new = [f"{prefix}{n:0{width}d}" for n in range(start, start + count)]
    frame = frame.copy()
    frame.loc[missing, key] = new
    what = "no" if count == len(frame) else f"{count} row(s) without a"
    notes.append(f"{what} '{key}': ids {new[0]}–{new[-1]} generated")
    return frame


def unmapped_columns(columns: list[str], mapping: dict[str, str]) -> list[str]:
    used = set(mapping.values())
    return [c for c in columns if c not in used]
