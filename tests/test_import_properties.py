"""Property-based: whatever a CSV or GeoJSON holds, an import either succeeds with valid
data or ends in a clean one-line error, and a failed import leaves the workspace as it was."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townmap.catalog import validate_frame
from townmap.crs import DEMO_CRS
from townmap.errors import UploadError
from townmap.io.importer import ImportOptions, commit_import, plan_import
from townmap.store import create_workspace

pytestmark = pytest.mark.filterwarnings("ignore:Could not parse column:UserWarning")

# CI runs a fixed set of examples (derandomized, so it cannot fail by chance); set
# TOWNMAP_HYPOTHESIS_EXAMPLES=500 TOWNMAP_HYPOTHESIS_RANDOM=1 to hunt for new failures.
SETTINGS = settings(
    max_examples=int(os.environ.get("TOWNMAP_HYPOTHESIS_EXAMPLES", "25")),
    derandomize=os.environ.get("TOWNMAP_HYPOTHESIS_RANDOM") != "1",
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
HEADER = ["断面编号", "断面名称", "英文名", "所在水体", "水体类型", "目标水质", "经度", "纬度"]
cell = st.one_of(
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**9), 10**9),
    st.sampled_from(["river", "lake", "III", "", "NA"]),
)


def _check(tmp_path, catalog, path, layer: str) -> None:
    ws = create_workspace(tmp_path / f"ws-{uuid.uuid4().hex}", DEMO_CRS, catalog=catalog)
    before = ws.gpkg.read_bytes()
    try:
        plan = plan_import(path, ImportOptions(layer), catalog, hint_lon=120.0)
    except UploadError as exc:
        assert "\n" not in str(exc)
        assert ws.gpkg.read_bytes() == before
        return
    if not plan.ok:
        with pytest.raises(UploadError):
            commit_import(ws, plan)
        assert ws.gpkg.read_bytes() == before
        return
    try:
        commit_import(ws, plan)
    except UploadError:
        assert ws.gpkg.read_bytes() == before
        return
    stored = ws.read_layer(layer)
    assert len(stored) == len(plan.frame)
    blocking = [p for p in validate_frame(catalog[layer], stored) if "required" in p]
    assert blocking == []


@SETTINGS
@given(
    rows=st.lists(st.lists(cell, min_size=0, max_size=10), max_size=6),
    header=st.booleans(),
    encoding=st.sampled_from(["utf-8", "gbk"]),
)
def test_any_csv_imports_or_fails_cleanly(tmp_path, catalog, rows, header, encoding):
    lines = ([",".join(HEADER)] if header else []) + [
        ",".join(str(v).replace(",", " ").replace("\n", " ") for v in row) for row in rows
    ]
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_bytes("\n".join(lines).encode(encoding, errors="replace"))
    _check(tmp_path, catalog, path, "monitoring_stations")


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_any_bytes_as_csv_fail_cleanly_or_import(tmp_path, catalog, raw):
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(raw)
    _check(tmp_path, catalog, path, "monitoring_stations")


coordinate = st.floats(-1e7, 1e7, allow_nan=False) | st.sampled_from([119.95, 31.4, 0.0])
geometry = st.one_of(
    st.builds(lambda x, y: {"type": "Point", "coordinates": [x, y]}, coordinate, coordinate),
    st.builds(
        lambda pts: {"type": "LineString", "coordinates": pts},
        st.lists(st.tuples(coordinate, coordinate), min_size=0, max_size=4),
    ),
    st.none(),
    st.just({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
)
properties = st.dictionaries(
    st.sampled_from(
        ["station_id", "name_zh", "name_en", "water_body", "water_type", "target_class", "x"]
    ),
    cell,
    max_size=7,
)


@SETTINGS
@given(features=st.lists(st.tuples(geometry, properties), max_size=5), crs=st.booleans())
def test_any_geojson_imports_or_fails_cleanly(tmp_path, catalog, features, crs):
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in features],
    }
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": "EPSG:4549"}}
    path = tmp_path / f"{uuid.uuid4().hex}.geojson"
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    _check(tmp_path, catalog, path, "monitoring_stations")
