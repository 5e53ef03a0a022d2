"""Published map data is served only to a live browser session that holds its token.

The map's layer files (``townmap.render.publish``) are written to a folder Streamlit
serves as a component, at URLs that need no cookie: a URL copied from a projector's
browser history would hand out enterprise names and loads. So every URL carries a token
issued to one browser session (``?t=…``), and :class:`LayerFileGuard`, an ASGI middleware
in front of Streamlit (``st.App``), answers 403 unless the token belongs to a session
that is still connected and has not signed out. Hillshade images in the same folder are
not guarded (they show terrain, nothing private).

Where the guard is not running (the page script started some other way), pages get no
token and inline the data instead of publishing it: private either way.
"""

from __future__ import annotations

import secrets
import threading
from urllib.parse import parse_qs

import streamlit as st

#: the component name the render cache is served under (``common.cache_base``)
FOLDER_MARK = ".townmap_cache/"
GUARDED_SUFFIX = ".json.gz"
_STATE_KEY = "townmap_file_token"

_tokens: dict[str, str] = {}  # token → Streamlit session id
_lock = threading.Lock()
_guard_running = False


def enable() -> None:
    """Called where the server is built with :class:`LayerFileGuard` (``ui/main.py``)."""
    global _guard_running
    _guard_running = True


def session_token() -> str | None:
    """This browser session's token for published files; None where no guard checks it."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if not _guard_running or ctx is None:
        return None
    token = st.session_state.get(_STATE_KEY)
    with _lock:
        if token is None or _tokens.get(token) != ctx.session_id:
            token = secrets.token_urlsafe(24)
            _tokens[token] = ctx.session_id
    st.session_state[_STATE_KEY] = token
    return token


def revoke() -> None:
    """Sign-out: this session's published URLs stop working at once."""
    token = st.session_state.pop(_STATE_KEY, None)
    with _lock:
        _tokens.pop(token, None)


def token_valid(token: str) -> bool:
    from streamlit.runtime import Runtime

    with _lock:
        session = _tokens.get(token)
    if session is None:
        return False
    if not (Runtime.exists() and Runtime.instance().is_active_session(session)):
        with _lock:  # the browser went away: its token goes with it
            _tokens.pop(token, None)
        return False
    return True


def guarded(path: str) -> bool:
    return FOLDER_MARK in path and path.endswith(GUARDED_SUFFIX)


class LayerFileGuard:
    """ASGI middleware: 403 for a published layer file without a live session's token."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and guarded(scope.get("path", "")):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if not token_valid(query.get("t", [""])[0]):
                await send({"type": "http.response.start", "status": 403, "headers": []})
                await send({"type": "http.response.body", "body": b"sign in first"})
                return
        await self.app(scope, receive, send)
