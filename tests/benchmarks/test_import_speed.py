"""Import benchmark: a 100,000-feature GBK Shapefile (no .cpg) into a workspace, against
the bare ``pyogrio.read_dataframe`` + ``to_file`` of the same data, in one run.

Each side runs in its own process so its time and peak memory are its own. Target: both
ratios ≤ 1.5. Writes tests/artifacts/import_benchmark.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest

N = int(os.environ.get("TOWNMAP_BENCH_IMPORT", "100000"))

BARE = """
import resource, sys, time, pyogrio
t = time.perf_counter()
frame = pyogrio.read_dataframe(sys.argv[1], encoding="gbk")
frame.to_file(sys.argv[2], driver="GPKG")
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
TOWNMAP = """
import resource, sys, time, warnings
warnings.filterwarnings("ignore")
from townmap.catalog import load_catalog
from townmap.crs import DEMO_CRS
from townmap.io.importer import ImportOptions, NewLayer, commit_import, plan_import
from townmap.store import Workspace, create_workspace
catalog = load_catalog()
t = time.perf_counter()
ws = create_workspace(sys.argv[2], DEMO_CRS, catalog=catalog)
own = sys.argv[3] == "own"
options = (
    ImportOptions("receptors_own", new_layer=NewLayer("居民点", "Housing"))
    if own
    else ImportOptions("sensitive_receptors")
)
plan = plan_import(sys.argv[1], options, catalog, ws=ws)
assert plan.ok, plan.blocking
commit_import(ws, plan)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _shapefile(folder: Path) -> Path:
    path = folder / "receptors.shp"
    rng = np.random.default_rng(5)
    gdf = gpd.GeoDataFrame(
        {
            "编号": [f"R{i:06d}" for i in range(N)],
            "名称": [f"太滨镇第{i}居民点" for i in range(N)],
            "英文名": [f"Taibin housing {i}" for i in range(N)],
            "类型": rng.choice(["school", "hospital", "housing"], N),
            "人数": rng.integers(10, 5000, N),
        },
        geometry=gpd.points_from_xy(
            rng.uniform(487_000, 500_000, N), rng.uniform(3_467_000, 3_483_000, N)
        ),
        crs=4549,
    )
    pyogrio.write_dataframe(gdf, path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    return path


def _run(code: str, *args: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=600
    )
    seconds, peak = out.stdout.split()[-2:]
    return float(seconds), float(peak)


@pytest.mark.parametrize("target", ["catalog", "own"])
def test_import_overhead_against_bare_pyogrio(tmp_path, artifacts, target):
    """Into the catalog's receptors layer, and as a new own layer (types inferred)."""
    shp = _shapefile(tmp_path)
    bare = [_run(BARE, str(shp), str(tmp_path / f"bare{i}.gpkg")) for i in range(3)]
    town = [_run(TOWNMAP, str(shp), str(tmp_path / f"ws{i}"), target) for i in range(3)]
    bare_s, bare_mb = np.median([b[0] for b in bare]), np.median([b[1] for b in bare])
    town_s, town_mb = np.median([t[0] for t in town]), np.median([t[1] for t in town])
    report = {
        "features": N,
        "target": target,
        "bare_s": bare_s,
        "townmap_s": town_s,
        "time_ratio": town_s / bare_s,
        "bare_peak_mb": bare_mb,
        "townmap_peak_mb": town_mb,
        "memory_ratio": town_mb / bare_mb,
    }
    (artifacts / f"import_benchmark_{target}.json").write_text(json.dumps(report, indent=2))
    print(
        "\n"
        + "\n".join(
            f"{k:>16}: {v:.3f}" if isinstance(v, float) else f"{k:>16}: {v}"
            for k, v in report.items()
        )
    )
    assert report["time_ratio"] <= 1.5
    assert report["memory_ratio"] <= 1.5
