"""Import page, what the plan says: notes, warnings, blocking problems, row problems, the
summary, and a preview (a map of the features as they will be stored, those far from
the town in red; a hillshade for a DEM).

Not a page: importing this module draws nothing.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pyproj import CRS
from streamlit_folium import st_folium

from townmap.catalog import Label
from townmap.crs import is_metric
from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.io.raster_import import RasterPlan, warp_into
from townmap.render.escape import escape_markdown
from townmap.render.mapview import build_map, prepare_layer
from townmap.render.terrain import render_terrain
from townmap.ui import common
from townmap.ui.import_files import upload_root
from townmap.ui.import_mapping import mode_blocks, unit

FAR_COLOUR = "#d62728"
#: the importer's note listing unused columns; the page lists them in its own words
_UNUSED_NOTE = "column(s) not imported"


def messages(lang: str, plan) -> None:
    """Notes as information, warnings as warnings, what blocks the commit as errors, row
    problems as a table (all quote the file's names and values: escaped, or data)."""
    for note in plan.notes:
        if not str(note).startswith(_UNUSED_NOTE):
            st.info(escape_markdown(note))
    for warning in getattr(plan, "warnings", []) or []:
        st.warning(escape_markdown(warning))
    hidden = set(mode_blocks(plan))  # the mode question asks instead
    for block in plan.blocking:
        if block not in hidden:
            st.error(escape_markdown(block))
    if plan.problems:
        st.warning(t("import_problems", lang).format(n=len(plan.problems)))
        st.dataframe(
            pd.DataFrame({t("problem", lang): [str(p) for p in plan.problems]}),
            hide_index=True,
            width="stretch",
        )


def summary(lang: str, plan) -> None:
    if isinstance(plan, RasterPlan):
        st.caption(t("raster_summary", lang).format(n=f"{plan.count:,}"))
    elif plan.spec.kind == "table":
        st.caption(t("import_summary_rows", lang).format(n=len(plan.frame), dropped=plan.dropped))
    else:
        st.caption(
            t("import_summary", lang).format(
                n=len(plan.frame), repaired=plan.repaired, dropped=plan.dropped
            )
        )


# ----------------------------------------------------------------------------- vector


def _drawable(spec, frame):
    """The spec and frame as the map code wants them: a key on every feature (a point
    layer is drawn by id), and metres (shapes are simplified by a tolerance in metres)."""
    key = spec.key or "townmap_preview_id"
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty].copy()
    if key not in frame.columns:
        frame[key] = [f"#{i + 1}" for i in range(len(frame))]
    else:
        missing = frame[key].isna()
        if missing.any():
            frame.loc[missing, key] = [f"#{i + 1}" for i in range(int(missing.sum()))]
    visible = spec.model_copy(update={"key": key, "visible": True})
    return visible, frame


def _far_spec(spec, lang: str):
    style = spec.style.model_copy(
        update={
            "color": FAR_COLOUR,
            "fill_color": FAR_COLOUR,
            "fill_opacity": 0.5,
            "weight": max(spec.style.weight, 3.0),
            "radius": max(spec.style.radius, 7.0),
            "by": None,
            "categories": {},
        }
    )
    label = Label(zh=t("far_layer", "zh"), en=t("far_layer", "en"))
    return spec.model_copy(
        update={"id": f"{spec.id}_far", "label": label, "style": style, "order": spec.order + 1}
    )


def vector_preview(lang: str, plan, ws) -> None:
    frame = plan.frame
    if frame.crs is not None and not is_metric(frame.crs):
        frame = frame.to_crs(ws.crs)
    spec, frame = _drawable(plan.spec, frame)
    if frame.empty:
        return
    layers = [prepare_layer(spec, frame, lang)]
    far = [i for i in getattr(plan, "outside_rows", []) or [] if 0 <= i < len(plan.frame)]
    if far:
        st.warning(t("preview_far", lang).format(n=len(far), unit=unit(spec.kind, lang)))
        far_frame = plan.frame.iloc[far]
        if far_frame.crs is not None and not is_metric(far_frame.crs):
            far_frame = far_frame.to_crs(ws.crs)
        far_spec, far_frame = _drawable(_far_spec(spec, lang), far_frame)
        if not far_frame.empty:
            layers.append(prepare_layer(far_spec, far_frame, lang))
    if ws.has_layer("town") and "town" in common.catalog() and spec.id != "town":
        town = ws.read_layer("town")
        layers.insert(0, prepare_layer(common.catalog()["town"], town, lang))
    minx, miny, maxx, maxy = frame.to_crs(4326).total_bounds
    pad = 0.005  # a single point still gets a sensible view
    bounds = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    parts = build_map(layers, lang, common.asset_base(), bounds, drawing=False)
    st_folium(
        parts.base,
        layer_control=parts.control,
        height=420,
        use_container_width=True,
        returned_objects=[],
        key=f"imp_preview_{lang}",
    )


# ----------------------------------------------------------------------------- raster


@st.cache_data(show_spinner=False, max_entries=4)
def _raster_preview(source: str, sha256: str, crs_wkt: str, _plan) -> tuple[str, str]:
    """Hillshade and elevation colours of the planned DEM as it will be stored (PNGs)."""
    folder = upload_root() / sha256
    folder.mkdir(parents=True, exist_ok=True)
    warped = folder / "preview.tif"
    warp_into(_plan, CRS.from_wkt(crs_wkt), warped)
    images = render_terrain(warped, folder)
    return str(images.hillshade), str(images.elevation)


def raster_preview(lang: str, plan, ws) -> None:
    if not plan.ok:
        return
    try:
        shade, elevation = _raster_preview(str(plan.source), plan.sha256, ws.crs.to_wkt(), plan)
    except TownmapError as exc:
        st.error(escape_markdown(exc))
        return
    c1, c2 = st.columns(2)
    c1.image(shade, caption=t("raster_preview", lang), width="stretch")
    c2.image(elevation, caption=t("elevation_preview", lang), width="stretch")
