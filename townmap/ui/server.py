"""``townmap serve``: start the app with Townmap's own server settings, whatever the folder.

Streamlit reads ``.streamlit/config.toml`` from the current folder and from the home
folder, so the checkout's file protects only a server started inside the checkout. A
pip-installed Townmap is started from anywhere: the settings that keep it private are
therefore passed as command-line flags, which outrank every config file and environment
variable (Streamlit's documented order). The checkout's ``.streamlit/config.toml`` holds
the same values for ``streamlit run app.py``; a test keeps the two equal.
"""

from __future__ import annotations

import os
from pathlib import Path

#: what a Townmap server always runs with (issue 10 and 19: nothing is sent anywhere,
#: forms need Streamlit's XSRF token, cross-origin requests are refused, an upload is
#: limited to what the importer accepts anyway: 500 MB, the archive limit)
ENFORCED: dict[str, object] = {
    "browser.gatherUsageStats": False,
    "server.headless": True,
    "server.enableXsrfProtection": True,
    "server.enableCORS": True,
    "server.maxUploadSize": 500,
    # a server watching site-packages for edits only spends CPU
    "server.fileWatcherType": "none",
    "client.toolbarMode": "minimal",
    # a language switch sets kept choices again on purpose (ui/common._refresh_choices)
    "global.disableWidgetStateDuplicationWarning": True,
    "theme.base": "light",
}
#: loopback unless the user names an address (a hall PC showing its own screen needs
#: nothing else; a LAN address is a deliberate choice)
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8501

MAIN_SCRIPT = Path(__file__).resolve().parent / "main.py"


def _flag(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def streamlit_args(address: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT) -> list[str]:
    """Arguments of ``streamlit run`` for Townmap's app with every enforced setting."""
    settings = {
        **ENFORCED,
        "server.address": address,
        "server.port": port,
        # the address Streamlit prints for the user to open
        "browser.serverAddress": "localhost" if address == DEFAULT_ADDRESS else address,
    }
    args = ["run", str(MAIN_SCRIPT)]
    for key, value in settings.items():
        args += [f"--{key}", _flag(value)]
    return args


def serve(workspace: str | Path | None, address: str, port: int) -> int:
    """Run the Streamlit server in this process until it is stopped (Ctrl+C)."""
    from streamlit.web import cli as streamlit_cli

    if workspace is not None:
        os.environ["TOWNMAP_WORKSPACE"] = str(workspace)
    print(f"Townmap: open http://{'localhost' if address == DEFAULT_ADDRESS else address}:{port}")
    return streamlit_cli.main(args=streamlit_args(address, port), prog_name="streamlit")
