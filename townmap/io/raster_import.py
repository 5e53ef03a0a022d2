"""Importing a DEM into a raster layer: check, then warp into the workspace.

It reads GeoTIFF, netCDF (a CF grid such as GEBCO's: the elevation variable is found,
or named with the source layer) and ESRI ASCII grid (.asc, with its .prj if any). The
checks are the ones that bite with real elevation data: no coordinate system, a
GeoTIFF that is really a picture (RGB bytes), absurd elevations (feet, or a nodata
value that was never declared), packed values (scale and offset, applied), and sizes
beyond what a town needs. The raster is stored as a tiled, compressed Float32 GeoTIFF
in the workspace CRS so every analysis reads one kind of DEM.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from pyproj import CRS
from rasterio.warp import Resampling, calculate_default_transform, reproject

from townmap.catalog import Catalog, LayerSpec
from townmap.crs import DISPLAY_CRS
from townmap.errors import UploadError
from townmap.io.crs_choice import single_candidate, user_crs
from townmap.io.readers import RASTER_SUFFIXES

#: 100 M cells is a county at 5 m; a town DEM is far smaller
MAX_CELLS = 100_000_000
#: below the Dead Sea and above Everest: not metres of elevation
PLAUSIBLE_M = (-450.0, 8900.0)
NODATA = -9999.0
#: netCDF variable names that hold elevations, in the order they are preferred
ELEVATION_NAMES = ("elevation", "z", "dem", "height", "altitude", "band1", "topo", "elev")
_KINDS = {".nc": "netCDF", ".asc": "an ASCII grid"}


@dataclass
class RasterPlan:
    """What a GeoTIFF holds and how it will be stored; nothing is written yet."""

    spec: LayerSpec
    source: Path
    sha256: str
    options: object
    crs: CRS
    width: int
    height: int
    resolution: tuple[float, float]
    nodata: float | None
    value_range: tuple[float, float]
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    repaired: int = 0
    dropped: int = 0
    #: what GDAL opens: the file, or one variable of a netCDF (``netcdf:file.nc:elevation``)
    dataset: str = ""

    @property
    def ok(self) -> bool:
        return not self.blocking

    @property
    def count(self) -> int:
        return self.width * self.height


def _open(path: Path, dataset: str = ""):
    try:
        return rasterio.open(dataset or path)
    except (rasterio.errors.RasterioIOError, rasterio.errors.RasterioError, OSError) as exc:
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        kind = _KINDS.get(path.suffix.lower(), "a GeoTIFF")
        raise UploadError(
            f"{path.name} could not be read as {kind} ({first}); check the file is complete"
        ) from None


def _variable(path: Path, wanted: str | None, notes: list[str]) -> str:
    """The netCDF variable holding the elevations ("" when the file opens as one grid)."""
    with warnings.catch_warnings():  # a netCDF of several variables has no grid of its own
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with _open(path) as src:
            if src.count or not src.subdatasets:
                return ""
            found = {name.rsplit(":", 1)[-1]: name for name in src.subdatasets}
    if wanted:
        if wanted not in found:
            raise UploadError(f"{path.name} has no variable {wanted!r}; it has {', '.join(found)}")
        chosen = wanted
    else:
        by_name = {v.lower(): v for v in found}
        preferred = [by_name[n] for n in ELEVATION_NAMES if n in by_name]
        if not preferred and len(found) > 1:
            raise UploadError(
                f"{path.name} holds {len(found)} variables ({', '.join(found)}); "
                "choose the one with the elevations as the source layer"
            )
        chosen = preferred[0] if preferred else next(iter(found))
    notes.append(f"elevations read from the netCDF variable {chosen!r}")
    return found[chosen]


def plan_raster_import(
    path: Path, options, catalog: Catalog, sha256: str, hint_lon: float | None = None
) -> RasterPlan:
    """Check a GeoTIFF for a raster layer. ``options`` is the importer's ``ImportOptions``."""
    spec = catalog[options.layer_id]
    if path.suffix.lower() not in RASTER_SUFFIXES:
        raise UploadError(
            f"{spec.id} is a raster layer: upload a GeoTIFF (.tif), netCDF (.nc) or ASCII "
            f"grid (.asc), not {path.name}"
        )
    if options.datum:
        raise UploadError("web-map datum correction applies to points, not to a raster")
    notes: list[str] = []
    dataset = _variable(path, getattr(options, "source_layer", None), notes)
    with _open(path, dataset) as src:
        if src.width * src.height > MAX_CELLS:
            raise UploadError(
                f"{path.name} has {src.width * src.height:,} cells; the limit is {MAX_CELLS:,}: "
                "clip it to the town or resample it first"
            )
        if src.count > 1:
            if src.dtypes[0] == "uint8" and src.count in (3, 4):
                raise UploadError(
                    f"{path.name} is a {src.count}-band picture, not elevations; "
                    "export the DEM itself (one band of heights)"
                )
            notes.append(f"{src.count} bands: band 1 is used")
        if not np.issubdtype(np.dtype(src.dtypes[0]), np.number):
            raise UploadError(f"{path.name} holds {src.dtypes[0]} cells, not numbers")
        crs = _raster_crs(src, options, notes, hint_lon)
        band = _read_band(src, path, notes)
        nodata = src.nodata
        res = (abs(src.transform.a), abs(src.transform.e))
        width, height = src.width, src.height
    values = band.compressed().astype("float64")
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise UploadError(f"{path.name} holds no elevation values (every cell is nodata)")
    lo, hi = float(values.min()), float(values.max())
    blocking: list[str] = []
    if lo < PLAUSIBLE_M[0] or hi > PLAUSIBLE_M[1]:
        blocking.append(
            f"elevations range {lo:g} … {hi:g}, which is not metres above sea level; "
            "declare the nodata value or convert the units, then upload again"
        )
    notes.append(
        f"{width} × {height} cells of {res[0]:g} × {res[1]:g} "
        f"{'m' if crs.is_projected else '°'}, elevations {lo:.1f} … {hi:.1f} m"
    )
    if nodata is None:
        notes.append("no nodata value declared: every cell is taken as an elevation")
    return RasterPlan(
        spec,
        path,
        sha256,
        options,
        crs,
        width,
        height,
        res,
        nodata,
        (lo, hi),
        notes,
        [],
        blocking,
        dataset=dataset,
    )


def _read_band(src, path: Path, notes: list[str] | None = None) -> np.ma.MaskedArray:
    """Band 1 with nodata masked and packed values (netCDF ``scale_factor``) unpacked."""
    try:
        band = src.read(1, masked=True)
    except (rasterio.errors.RasterioIOError, rasterio.errors.RasterioError, OSError) as exc:
        raise UploadError(
            f"{path.name} could not be read to the end ({type(exc).__name__}); "
            "the file is truncated or damaged: export it again"
        ) from None
    scale, offset = float(src.scales[0] or 1.0), float(src.offsets[0] or 0.0)
    if (scale, offset) != (1.0, 0.0):
        band = band.astype("float64") * scale + offset
        if notes is not None:
            notes.append(f"packed values unpacked (× {scale:g} + {offset:g})")
    return band


def _raster_crs(src, options, notes: list[str], hint_lon: float | None) -> CRS:
    if options.crs:
        return user_crs(options.crs)
    if src.crs is not None:
        return CRS.from_user_input(src.crs.to_wkt())
    if _cf_degrees(src):
        notes.append("netCDF longitude/latitude grid without a grid mapping: taken as WGS 84")
        return DISPLAY_CRS
    b = src.bounds
    crs, listed = single_candidate((b.left, b.bottom, b.right, b.top), hint_lon, notes)
    if crs is not None:
        return crs
    raise UploadError(
        f"the GeoTIFF does not say its coordinate system; choose one (candidates: {listed})"
    )


def _cf_degrees(src) -> bool:
    """Whether a netCDF's axes are CF longitude and latitude (degrees east and north)."""
    tags = {k.lower(): str(v).lower() for k, v in src.tags().items()}
    units = {v for k, v in tags.items() if k.endswith("#units")}
    return src.driver == "netCDF" and {"degrees_east", "degrees_north"} <= units


def warp_into(plan: RasterPlan, target_crs: CRS, out: Path) -> None:
    """Write the planned raster to ``out`` in ``target_crs`` (bilinear, Float32, nodata
    -9999), keeping its resolution when the CRS is the same kind (metres or degrees)."""
    with _open(plan.source, plan.dataset) as src:
        band = _read_band(src, plan.source).astype("float32").filled(NODATA)
        same = CRS.from_user_input(target_crs) == plan.crs
        if same:
            transform, width, height = src.transform, src.width, src.height
        else:
            transform, width, height = calculate_default_transform(
                plan.crs, target_crs, src.width, src.height, *src.bounds
            )
        profile = {
            "driver": "GTiff",
            "dtype": "float32",
            "count": 1,
            "crs": target_crs,
            "transform": transform,
            "width": width,
            "height": height,
            "nodata": NODATA,
            "compress": "deflate",
            "predictor": 3,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with rasterio.open(out, "w", **profile) as dst:
            if same:
                dst.write(band, 1)
            else:
                dest = np.full((height, width), NODATA, dtype="float32")
                reproject(
                    band,
                    dest,
                    src_transform=src.transform,
                    src_crs=plan.crs,
                    src_nodata=NODATA,
                    dst_transform=transform,
                    dst_crs=target_crs,
                    dst_nodata=NODATA,
                    resampling=Resampling.bilinear,
                )
                dst.write(dest, 1)
