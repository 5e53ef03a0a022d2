"""What every page shares: language from the URL, the catalog, the workspace, assets."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from townmap.catalog import Catalog, load_catalog
from townmap.errors import TownmapError
from townmap.i18n import LANGUAGES, check_lang, t
from townmap.render.assets import ASSET_DIR
from townmap.render.escape import escape_markdown
from townmap.settings import default_workspace, layers_dir, login_name
from townmap.store import Actor, Workspace, is_postgis, open_workspace, workspace_exists

_LANG_NAMES = {"zh": "中文", "en": "English"}


#: the language the previous run of this session was drawn in
_SHOWN_LANG = "townmap_lang_shown"


def _refresh_choices() -> None:
    """After a language switch, send every kept choice to the browser again. The browser
    holds a select's or radio's choice as its shown label; once the labels are in the
    other language it matches none, shows nothing chosen and sends that back on the next
    click, so the choice (a new layer, its group, a mapping…) is lost. Setting the value
    again makes Streamlit send it in the new labels. Only text, numbers and lists of them
    are set (a list only when something is chosen): buttons (bool), uploads (an empty
    list, or files) and component values cannot be set or keep themselves."""
    for key in list(st.session_state.keys()):
        if key in ("townmap_lang", _SHOWN_LANG):
            continue
        value = st.session_state[key]
        plain = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        listed = (
            isinstance(value, (list, tuple))
            and len(value) > 0
            and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value)
        )
        if plain or listed:
            with contextlib.suppress(st.errors.StreamlitAPIException):  # cannot be set
                st.session_state[key] = value


def language() -> str:
    """The interface language: ``?lang=`` in the URL, so a shared link keeps it; a link
    in the page menu carries no ``?lang=``, so the session's language holds there."""
    shown = st.session_state.get(_SHOWN_LANG)
    asked = st.query_params.get("lang")
    lang = check_lang(asked if asked or shown is None else shown)
    chosen_now = st.session_state.get("townmap_lang", lang)
    if shown is not None and chosen_now != shown:
        _refresh_choices()
    chosen = st.sidebar.radio(
        "语言 / Language",
        LANGUAGES,
        index=LANGUAGES.index(lang),
        format_func=_LANG_NAMES.get,
        horizontal=True,
        key="townmap_lang",
    )
    if chosen != st.query_params.get("lang"):
        st.query_params["lang"] = chosen
    st.session_state[_SHOWN_LANG] = chosen
    return chosen


def asset_base() -> str:
    """URL of Townmap's own front-end assets, relative to a component iframe.

    Streamlit serves a declared component's folder at ``/component/<name>/``; declaring the
    vendored asset folder this way lets the app serve Leaflet itself, under any base path.
    """
    component = components.declare_component("townmap_assets", path=str(ASSET_DIR))
    return f"../{component.name}/"


def cache_base(folder: Path) -> str:
    """URL of the render cache (hillshade images) relative to a component iframe."""
    folder.mkdir(parents=True, exist_ok=True)
    component = components.declare_component("townmap_cache", path=str(folder))
    return f"../{component.name}/"


@st.cache_resource(show_spinner=False)
def base_catalog() -> Catalog:
    """The shipped layer files (what a workspace is opened with)."""
    return load_catalog(layers_dir())


#: per script thread: the own-layer definitions of the workspace this run opened
_RUN = threading.local()


def catalog() -> Catalog:
    """The catalog this page works with: the shipped layers plus the own layers of the
    workspace the page opened (``page_start``), so an own layer is drawn, listed and
    analysed like a catalog layer."""
    text = getattr(_RUN, "own_layers", "")
    return _with_own(text) if text else base_catalog()


def catalog_token() -> str:
    """Changes when the page's catalog does (an own layer added, restyled, removed)."""
    from townmap.own_layers import METADATA_KEY, definitions_token

    return definitions_token({METADATA_KEY: getattr(_RUN, "own_layers", "")})


@st.cache_resource(show_spinner=False, max_entries=16)
def _with_own(text: str) -> Catalog:
    from townmap.own_layers import METADATA_KEY, merged, own_specs

    try:
        return merged(base_catalog(), own_specs({METADATA_KEY: text}))
    except TownmapError as exc:  # a damaged definition: shown, the catalog still loads
        cat = base_catalog()
        return Catalog(layers=dict(cat.layers), errors=[*cat.errors, exc])


def _remember(ws: Workspace) -> Workspace:
    from townmap.own_layers import METADATA_KEY

    _RUN.own_layers = ws.metadata().get(METADATA_KEY, "")
    return ws


@st.cache_resource(show_spinner=False)
def _downloads() -> Path:
    from townmap.store.folders import process_folder

    return process_folder("townmap-download-")


def download_dir() -> Path:
    """A new folder for a file offered for download: inside this server's own temporary
    folder, removed when the server exits (or by the next one, if it was killed)."""
    import tempfile

    return Path(tempfile.mkdtemp(dir=_downloads()))


def workspace_folder() -> str | Path:
    """The configured workspace location: a folder or a PostGIS URL."""
    return default_workspace()


def configured_workspace(lang: str) -> Workspace | None:
    """The configured workspace, or None after telling the user how to get one."""
    folder = workspace_folder()
    if is_postgis(folder):
        _RUN.own_layers = ""
        try:
            return _remember(open_workspace(folder, catalog=base_catalog()))
        except TownmapError as exc:  # the message names the server, never its password
            st.error(escape_markdown(exc))
            return None
    _RUN.own_layers = ""
    if not workspace_exists(folder):
        st.error(f"{t('no_workspace', lang)}: {escape_markdown(folder)}")
        st.info(t("no_workspace_help", lang))
        if st.button(t("build_demo", lang)):
            from townmap.demo.build import build_demo

            with st.spinner(t("build_demo", lang)):
                build_demo(folder, catalog=base_catalog())
            st.rerun()
        return None
    try:
        return _remember(open_workspace(folder, catalog=base_catalog()))
    except TownmapError as exc:
        st.error(escape_markdown(exc))
        return None


def page_start(title_key: str) -> tuple[str, Workspace | None]:
    """What every page begins with: language, title, workspace, sign-in where the
    workspace has users, the fiction banner."""
    lang = language()
    st.title(t(title_key, lang))
    ws = configured_workspace(lang)
    if ws is not None:
        if not signed_in(ws, lang):
            st.stop()
        ws = ws.as_actor(session_actor())
        fiction_banner(ws, lang)
    return lang, ws


def current_user() -> dict | None:
    """``{"user", "role"}`` of whoever signed in this browser session, if anyone."""
    return st.session_state.get("townmap_user")


def session_actor() -> Actor:
    """Who writes from this browser session: the signed-in user and role; on a
    workspace without users, nobody signed in (allowed everything), under the server's
    login name until the page's name box says otherwise. The one place pages get it."""
    who = current_user()
    if who:
        return Actor(str(who["user"]), str(who["role"]))
    return Actor(login_name(), None)


def name_box(ws: Workspace, lang: str, key: str, container=st) -> Workspace:
    """On a workspace without users, a 'your name' box for the change log, and the
    workspace bound to that name; a signed-in user's name is known and not asked."""
    if current_user():
        return ws
    typed = container.text_input(t("your_name", lang), value=ws.actor.user, max_chars=80, key=key)
    return ws.as_actor(ws.actor.named(typed))


def signed_in(ws: Workspace, lang: str) -> bool:
    """A workspace without users is the single-user default; with users, a sign-in
    form (offline: checked against the workspace's scrypt hashes)."""
    from townmap.auth.access import has_users

    if not has_users(ws):
        return True
    who = current_user()
    if who:
        st.sidebar.caption(t("signed_in_as", lang).format(user=who["user"], role=who["role"]))
        if st.sidebar.button(t("sign_out", lang), key="townmap_sign_out"):
            from townmap.ui.served_files import revoke

            st.session_state.pop("townmap_user", None)
            revoke()
            if who.get("sso"):
                st.logout()
            st.rerun()
        return True
    if sso_configured():
        if _sso_sign_in(ws, lang):
            st.rerun()
        st.divider()
    with st.form("townmap_sign_in"):
        user = st.text_input(t("user_name", lang), max_chars=40)
        password = st.text_input(t("password", lang), type="password", max_chars=200)
        if st.form_submit_button(t("sign_in", lang), type="primary"):
            _try_sign_in(ws, lang, user.strip(), password)
    return False


def _try_sign_in(ws: Workspace, lang: str, user: str, password: str) -> None:
    """Check a password unless this user or client must wait (townmap.auth.throttle)."""
    from townmap.auth.throttle import shared
    from townmap.auth.users import sign_in

    address = st.context.ip_address  # None where Streamlit cannot tell
    throttle, where, client = (
        shared(),
        str(ws.location),
        address if isinstance(address, str) else None,
    )
    verdict = throttle.check(where, user, client)
    if not verdict.allowed:
        key = "sign_in_locked" if verdict.locked else "sign_in_wait"
        st.error(t(key, lang).format(seconds=verdict.wait_s, minutes=-(-verdict.wait_s // 60)))
        return
    role = sign_in(ws, user, password)
    if role:
        throttle.succeeded(where, user, client)
        st.session_state["townmap_user"] = {"user": user, "role": role}
        st.rerun()
    throttle.failed(where, user, client)
    st.error(t("sign_in_failed", lang))


def sso_configured() -> bool:
    """Single sign-on is offered when ``.streamlit/secrets.toml`` has an ``[auth]``
    section (Streamlit's OIDC settings); otherwise only the offline sign-in form."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises rather than answers
        return False


def _sso_sign_in(ws: Workspace, lang: str) -> bool:
    """The identity provider's button; once it vouches for an e-mail address the
    workspace has registered (``townmap users add EMAIL --sso``), that user is in."""
    from townmap.auth.users import sso_role

    user = st.user
    if not user.get("is_logged_in"):
        if st.button(t("sso_sign_in", lang), type="primary", key="townmap_sso"):
            try:
                st.login()
            except Exception as exc:  # e.g. Authlib missing, provider unreachable
                st.error(f"{t('sso_failed', lang)}: {html_text(exc)}")
        return False
    email = str(user.get("email") or "")
    role = sso_role(ws, email)
    if role is None:
        st.error(t("sso_not_registered", lang).format(user=email))
        if st.button(t("sign_out", lang), key="townmap_sso_out"):
            st.logout()
        return False
    st.session_state["townmap_user"] = {"user": email, "role": role, "sso": True}
    return True


def html_text(value: object) -> str:
    """One line of an exception for a message (Streamlit escapes it)."""
    text = str(value).strip().splitlines()
    return text[0] if text else type(value).__name__


def fiction_banner(ws: Workspace, lang: str) -> None:
    """Fictional data says so on screen, on every page."""
    if ws.is_fictional:
        st.warning(t("fictional_banner", lang), icon="⚠️")


def catalog_problems(cat: Catalog, lang: str) -> None:
    if cat.errors:
        with st.sidebar.expander(t("catalog_errors", lang), expanded=False):
            for err in cat.errors:
                st.text(str(err))
