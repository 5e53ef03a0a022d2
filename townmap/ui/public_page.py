"""The public display (``?mode=public``): full screen, read-only, 中文 first with English,
large type, a simple legend, colour-blind-safe colours, no editing controls and no
enterprise details the workspace marks as not public. The presenter steps through the
planner's views with a clicker or the keyboard (PageDown/PageUp, arrows, space); the
slide number is in the URL, so a page reload stays on the same view. Type is sized in
viewport units; a 4K projector is driven at 200 % scaling, as operating systems do by
default, so the map and text keep their proportions."""

from __future__ import annotations

import html

import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t, value_label
from townmap.participation.display import load_slides, public_frame, public_spec
from townmap.render.escape import escape_html_line, escape_markdown
from townmap.render.mapview import build_map, prepare_layer
from townmap.store import Workspace, open_workspace, workspace_exists
from townmap.ui import common, map_data
from townmap.ui.keys import presenter_keys

CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header,
[data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stStatusWidget"],
footer { display: none !important; }
.block-container { padding: 1.2rem 2rem 0 2rem !important; max-width: 100% !important; }
.pub-title { font-size: 6vh; font-weight: 800; line-height: 1.15; color: #000; }
.pub-sub { font-size: 3.4vh; color: #222; margin-bottom: .4rem; }
.pub-big { font-size: 9vh; font-weight: 800; line-height: 1; color: #000; }
.pub-label { font-size: 3vh; color: #111; }
.pub-small { font-size: 2.2vh; color: #222; }
.pub-nav { font-size: 2.8vh; color: #333; }
.pub-nav a { color: #0072B2; text-decoration: none; font-weight: 700; padding: 0 .6rem; }
.pub-fiction { font-size: 2.2vh; background: #F0E442; color: #000; padding: .2rem .6rem; }
</style>
"""


def _slide_index(n: int) -> int:
    try:
        i = int(st.query_params.get("slide", "1"))
    except ValueError:
        i = 1
    return min(max(i, 1), max(n, 1))


def _keys(n: int, current: int) -> None:
    pressed = presenter_keys("pub_keys")
    if pressed and pressed.get("n") != st.session_state.get("pub_last_key"):
        st.session_state["pub_last_key"] = pressed.get("n")
        nxt = min(max(current + int(pressed.get("step", 0)), 1), n)
        if nxt != current:
            st.query_params["slide"] = str(nxt)
            st.rerun()


def _headline(ws: Workspace, stamp, indicator: str) -> list[tuple[str, str]]:
    """(big value, bilingual label) pairs for the side panel."""
    from townmap.ui import conflicts_data, monitoring_data

    if indicator == "water_class":
        years = monitoring_data.classes(stamp)["year"]
        if years.empty:
            return []
        last = years[years["period"] == years["period"].max()]
        good = int((last["class"] <= 3).sum())
        rows = [
            (f"{good} / {len(last)}", f"{t('pub_class_iii', 'zh')} · {t('pub_class_iii', 'en')}")
        ]
        worst = int((last["class"] >= 6).sum())
        rows.append((str(worst), f"{t('pub_worse_v', 'zh')} · {t('pub_worse_v', 'en')}"))
        return rows
    if indicator == "conflicts":
        findings, _ = conflicts_data.conflicts(stamp)
        prohibited = int((findings["severity"] == "prohibited").sum())
        return [
            (str(len(findings)), f"{t('pub_findings', 'zh')} · {t('pub_findings', 'en')}"),
            (str(prohibited), f"{t('pub_prohibited', 'zh')} · {t('pub_prohibited', 'en')}"),
        ]
    if indicator == "targets" and ws.has_table("ems_objectives"):
        from townmap.management.register import objective_progress

        prog = objective_progress(
            ws.read_table("ems_objectives"), monitoring_data.indicators(stamp)
        )
        return [
            (
                f"{int(prog['achieved'].sum())} / {len(prog)}",
                f"{t('pub_targets', 'zh')} · {t('pub_targets', 'en')}",
            )
        ]
    if indicator == "comments":
        from townmap.participation.comments import public_view

        shown = public_view(ws)
        counts = shown["category"].value_counts()
        rows = [(str(len(shown)), f"{t('pub_comments', 'zh')} · {t('pub_comments', 'en')}")]
        for category, n in counts.head(4).items():
            rows.append((str(n), f"{value_label(category, 'zh')} · {value_label(category, 'en')}"))
        return rows
    return []


def _indicator_layers(stamp, indicator: str) -> list:
    """The headline drawn on the map: stations by latest class, or conflicts by severity
    (rule titles only: the feature ids stay off the public screen)."""
    from townmap.ui import conflicts_data, monitoring_data

    specs = conflicts_data.analysis_specs()
    if indicator == "water_class":
        years = monitoring_data.classes(stamp)["year"]
        stations = map_data.layers(stamp).get("monitoring_stations")
        if years.empty or stations is None:
            return []
        latest = years.sort_values("period").groupby("station").tail(1)
        frame = stations.merge(latest, left_on="station_id", right_on="station")
        frame["name"] = frame["name_zh"] + " " + frame["name_en"]
        frame["attained"] = ""
        spec = public_spec(specs["station_classes"])
        cols = [a.name for a in spec.attributes if a.name in frame.columns]
        return [prepare_layer(spec, frame[[*cols, "geometry"]], "zh")]
    if indicator == "conflicts":
        findings, _ = conflicts_data.conflicts(stamp)
        points = findings[findings.geom_type == "Point"]
        if points.empty:
            return []
        frame = points.assign(
            title=points["title_zh"] + " / " + points["title_en"], finding=range(len(points))
        )[["finding", "title", "severity", "geometry"]]
        spec = public_spec(specs["conflict_points"]).model_copy(
            update={"tooltip": ["title", "severity"], "popup": ["title", "severity"]}
        )
        return [prepare_layer(spec, frame, "zh")]
    return []


def render() -> None:
    st.markdown(CSS, unsafe_allow_html=True)  # our own fixed stylesheet, no user text
    folder = common.workspace_folder()
    if not workspace_exists(folder):
        st.markdown(
            f'<div class="pub-title">{html.escape(t("no_workspace", "zh"))}</div>',
            unsafe_allow_html=True,
        )
        return
    try:
        ws = open_workspace(folder, catalog=common.catalog())
    except TownmapError as exc:
        st.error(escape_markdown(exc))
        return
    stamp = map_data.Stamp.of(ws)
    slides, _problems = load_slides(ws, common.catalog())
    if not slides:
        st.markdown(
            f'<div class="pub-title">{html.escape(t("pub_no_slides", "zh"))}</div>'
            f'<div class="pub-sub">{html.escape(t("pub_no_slides", "en"))}</div>',
            unsafe_allow_html=True,
        )
        return
    i = _slide_index(len(slides))
    _keys(len(slides), i)
    slide = slides[i - 1]
    fiction = ""
    if ws.is_fictional:
        note = f"{t('pub_fictional', 'zh')} · {t('pub_fictional', 'en')}"
        fiction = f'<span class="pub-fiction">{html.escape(note)}</span>'
    st.markdown(
        f'<div class="pub-title">{escape_html_line(slide.title_zh)}</div>'
        f'<div class="pub-sub">{escape_html_line(slide.title_en)} {fiction}</div>',
        unsafe_allow_html=True,
    )
    map_col, side = st.columns([3, 1], gap="large")
    with map_col:
        layers = map_data.layers(stamp)
        catalog = common.catalog()
        shown = []
        for layer_id in slide.layers:
            if layer_id in layers:
                spec = public_spec(catalog[layer_id])
                shown.append(prepare_layer(spec, public_frame(layer_id, layers[layer_id]), "zh"))
        shown.extend(_indicator_layers(stamp, slide.indicator))
        _, bounds = map_data.static_layers(stamp, "zh")
        parts = build_map(shown, "zh", common.asset_base(), bounds, drawing=False)
        from streamlit_folium import st_folium

        st_folium(
            parts.base,
            layer_control=parts.control,
            height=760,
            use_container_width=True,
            returned_objects=[],
            key=f"pub_map_{slide.slide_id}",
        )
    with side:
        for value, label in _headline(ws, stamp, slide.indicator):
            st.markdown(
                f'<div class="pub-big">{escape_html_line(value)}</div>'
                f'<div class="pub-label">{escape_html_line(label)}</div><br>',
                unsafe_allow_html=True,
            )
        prev_link = f'<a href="?mode=public&slide={max(i - 1, 1)}" target="_self">◀</a>'
        next_link = f'<a href="?mode=public&slide={min(i + 1, len(slides))}" target="_self">▶</a>'
        st.markdown(
            f'<div class="pub-nav">{prev_link} {i} / {len(slides)} {next_link}</div>'
            f'<div class="pub-small">{html.escape(t("pub_keys", "zh"))}<br>'
            f"{html.escape(t('pub_keys', 'en'))}</div>",
            unsafe_allow_html=True,
        )


render()
