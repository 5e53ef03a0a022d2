"""Frames in and out of PostgreSQL through COPY (CSV), with the types kept.

Why CSV COPY and not row inserts: COPY is PostgreSQL's bulk path and pyarrow writes and
parses CSV in C, so five million monitoring rows move in seconds, not minutes. CSV keeps
NULL (unquoted empty) apart from the empty string (``""``) and geometries travel as hex
EWKB, which PostGIS reads as geometry text input with its SRID.
"""

from __future__ import annotations

import io

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from psycopg import sql

from townmap.errors import WorkspaceError

FID = "_townmap_fid"
GEOMETRY = "geometry"
#: PostgreSQL cuts longer identifiers silently; we refuse them instead
MAX_IDENTIFIER_BYTES = 63
_CHUNK_ROWS = 200_000

_READ_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "bigint": pa.int64(),
    "integer": pa.int64(),
    "smallint": pa.int64(),
    "double precision": pa.float64(),
    "real": pa.float64(),
    "numeric": pa.float64(),
    "text": pa.string(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
}


def check_identifier(name: str, what: str) -> str:
    """Refuse names PostgreSQL would cut or cannot store."""
    if not name or len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES or "\x00" in name:
        raise WorkspaceError(
            f"{what} {name!r} is too long for PostgreSQL (at most {MAX_IDENTIFIER_BYTES} bytes)"
        )
    return name


def _sql_type(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    if dtype is np.dtype(object):
        values = series.dropna()
        if len(values) and all(type(v).__name__ == "date" for v in values.head(50)):
            return "date"
    return "text"


def geometry_type(geoms: gpd.GeoSeries) -> tuple[gpd.GeoSeries, str]:
    """One declared type per layer as GDAL writes it: mixed single and multi parts of one
    family are promoted to multi (the GeoPackage back end does the same)."""
    types = set(geoms.dropna().geom_type.unique())
    if len(types) == 1:
        return geoms, types.pop()
    families = {t.removeprefix("Multi") for t in types}
    if len(families) == 1 and len(types) == 2:
        family = families.pop()
        multi = {
            "Point": shapely.multipoints,
            "LineString": shapely.multilinestrings,
            "Polygon": shapely.multipolygons,
        }[family]
        values = geoms.values
        promoted = [multi([g]) if g is not None and g.geom_type == family else g for g in values]
        return gpd.GeoSeries(promoted, index=geoms.index, crs=geoms.crs), f"Multi{family}"
    return geoms, "Geometry"


def create_table(cur, schema: str, name: str, frame: pd.DataFrame, srid: int | None) -> None:
    """Create ``schema.name`` for ``frame`` and COPY its rows in (a GiST index on geometry)."""
    check_identifier(name, "layer name")
    geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    attrs = pd.DataFrame(frame.drop(columns=[geom]) if geom else frame)
    for col in attrs.columns:
        check_identifier(str(col), f"column of {name}")
        if str(col) in (FID, GEOMETRY):
            raise WorkspaceError(f"{name}: the column name {col!r} is reserved")
    columns = [
        sql.SQL("{} {}").format(sql.Identifier(str(c)), sql.SQL(_sql_type(attrs[c])))
        for c in attrs.columns
    ]
    geoms = None
    if geom:
        geoms, gtype = geometry_type(frame.geometry)
        columns.append(
            sql.SQL("{} geometry({}, {})").format(
                sql.Identifier(GEOMETRY), sql.SQL(gtype), sql.Literal(int(srid or 0))
            )
        )
    table = sql.Identifier(schema, name)
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    cur.execute(
        sql.SQL("CREATE TABLE {} ({} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY{}{})").format(
            table,
            sql.Identifier(FID),
            sql.SQL(", ") if columns else sql.SQL(""),
            sql.SQL(", ").join(columns),
        )
    )
    names = [str(c) for c in attrs.columns] + ([GEOMETRY] if geom else [])
    if names and len(frame):
        _copy_in(cur, table, attrs, names, geoms, srid)
    if geom:
        cur.execute(
            sql.SQL("CREATE INDEX {} ON {} USING gist ({})").format(
                sql.Identifier(f"{name[:50]}_gist"), table, sql.Identifier(GEOMETRY)
            )
        )
        cur.execute(sql.SQL("ANALYZE {}").format(table))


def _to_arrow(attrs: pd.DataFrame) -> pa.Table:
    clean = {}
    for col in attrs.columns:
        series = attrs[col]
        if series.dtype == object and _sql_type(series) == "text":
            series = series.map(lambda v: v if v is None or isinstance(v, str) else str(v))
            series = series.where(attrs[col].notna(), None)
        elif isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype("str")
        clean[str(col)] = series
    return pa.Table.from_pandas(pd.DataFrame(clean), preserve_index=False)


def _copy_in(cur, table, attrs, names, geoms, srid) -> None:
    arrow = _to_arrow(attrs)
    if geoms is not None:
        values = shapely.set_srid(np.asarray(geoms.values, dtype=object), int(srid or 0))
        hexes = shapely.to_wkb(values, hex=True, include_srid=True)
        arrow = arrow.append_column(GEOMETRY, pa.array(hexes, type=pa.string()))
    for col in arrow.column_names:
        text = pa.types.is_string(arrow[col].type) or pa.types.is_large_string(arrow[col].type)
        if text and pa.compute.any(pa.compute.match_substring(arrow[col], "\x00")).as_py():
            raise WorkspaceError(f"column {col!r} holds a NUL character; remove it first")
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        table, sql.SQL(", ").join(sql.Identifier(n) for n in names)
    )
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    with cur.copy(statement) as copy:
        for batch in arrow.to_batches(max_chunksize=_CHUNK_ROWS):
            buf = io.BytesIO()
            pacsv.write_csv(pa.Table.from_batches([batch]), buf, options)
            copy.write(buf.getvalue())


def columns_of(cur, schema: str, name: str) -> list[tuple[str, str]]:
    """(column, SQL type) of a stored table in order, Townmap's row id left out."""
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (schema, name),
    )
    return [(str(a), str(t)) for a, t in cur.fetchall() if a != FID]


def read_frame(
    cur,
    schema: str,
    name: str,
    crs,
    *,
    columns: list[str] | None = None,
    where: sql.Composable | None = None,
) -> pd.DataFrame:
    """A stored table as a (Geo)DataFrame, rows in the order they were written."""
    stored = columns_of(cur, schema, name)
    geom = next((c for c, t in stored if t.startswith("geometry")), None)
    keep = [(c, t) for c, t in stored if c != geom and (columns is None or c in columns)]
    names = [c for c, _ in keep] + ([geom] if geom else [])
    select = sql.SQL(", ").join(sql.Identifier(n) for n in names) if names else sql.SQL("1")
    query = sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(
        select,
        sql.Identifier(schema, name),
        sql.SQL(" WHERE ") + where if where is not None else sql.SQL(""),
        sql.Identifier(FID),
    )
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
    chunks = []
    with cur.copy(statement) as copy:
        for data in copy:
            chunks.append(bytes(data))
    types = {c: _READ_TYPES.get(t, pa.string()) for c, t in keep}
    if geom:
        types[geom] = pa.string()
    table = _parse(b"".join(chunks), names, types) if names else pa.table({})
    frame = table.to_pandas()
    for c, t in keep:
        if t == "timestamp with time zone":
            frame[c] = pd.to_datetime(frame[c], utc=True)
        if t.startswith("timestamp"):
            frame[c] = _as_milliseconds(frame[c])
    if not geom:
        return frame
    hexes = frame.pop(geom).to_numpy(dtype=object, na_value=None)
    geoms = shapely.from_wkb(hexes) if len(hexes) else np.array([], dtype=object)
    geoms = shapely.set_srid(geoms, 0) if len(hexes) else geoms
    frame[GEOMETRY] = gpd.GeoSeries(geoms, index=frame.index, crs=crs)
    return gpd.GeoDataFrame(frame, geometry=GEOMETRY, crs=crs)


def _as_milliseconds(values: pd.Series) -> pd.Series:
    """Millisecond timestamps, as the GeoPackage back end returns them, unless finer
    values are stored (then nothing is cut)."""
    stored = values.dropna()
    if len(stored) and (stored.dt.microsecond % 1000 != 0).any():
        return values
    return values.astype(values.dtype.name.replace("[us", "[ms").replace("[ns", "[ms"))


def _parse(data: bytes, names: list[str], types: dict[str, pa.DataType]) -> pa.Table:
    if not data:
        return pa.table({n: pa.array([], type=types[n]) for n in names})
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
