"""Users and roles: scrypt hashes only (never the password), sign-in, role checks on the
server side, the last administrator kept, users left out of exports, the CLI reading the
password from standard input and never printing it."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from tests.helpers import fingerprint
from townmap.auth.access import authorize
from townmap.auth.users import (
    add_user,
    list_users,
    remove_user,
    reset_password,
    sign_in,
    verify_password,
)
from townmap.cli import main
from townmap.errors import UploadError
from townmap.settings import shell_actor
from townmap.store import Actor, is_postgis

SECRET = "correct horse battery staple"


@pytest.fixture
def ws(demo_copy):
    """The demo on each back end: every users test runs on GeoPackage and PostGIS, as
    the administrator who manages its users (the role checks bind other actors)."""
    return demo_copy.as_actor(shell_actor())


def _everything_stored(ws) -> bytes:
    """All a workspace holds, as bytes (the file, or every table's rows)."""
    if not is_postgis(ws.location):
        return ws.gpkg.read_bytes()
    tables = [pd.DataFrame(ws.read_layer(n)).to_csv(index=False) for n in ws.stored_names()]
    return "\n".join(tables).encode()


def test_passwords_are_stored_only_as_hashes_and_checked(ws):
    add_user(ws, "admin", "administrator", SECRET)
    add_user(ws, "li.planner", "planner", SECRET + "!")
    assert sign_in(ws, "admin", SECRET) == "administrator"
    assert sign_in(ws, "admin", SECRET + "x") is None
    assert sign_in(ws, "nobody", SECRET) is None
    raw = _everything_stored(ws)
    assert SECRET.encode() not in raw and b"scrypt$" in raw
    assert list(list_users(ws).columns) == ["user", "role", "created_at"]
    assert "townmap_users" not in ws.layer_names()
    users = ws.read_internal_table("townmap_users").set_index("user")
    stored = users.loc["admin", "password_hash"]
    assert verify_password(SECRET, stored) and not verify_password("guess", stored)
    assert not verify_password(SECRET, "md5$abc")


@pytest.mark.parametrize(
    ("user", "role", "password", "message"),
    [
        ("x", "planner", SECRET, "2–40"),
        ("<script>", "planner", SECRET, "2–40"),
        ("wang", "king", SECRET, "role"),
        ("wang", "planner", "short", "at least"),
        ("wang", "planner", "wang-is-my-password", "user name"),
    ],
)
def test_bad_users_are_refused(ws, user, role, password, message):
    with pytest.raises(UploadError, match=message):
        add_user(ws, user, role, password)
    assert list_users(ws).empty


def test_roles_are_checked_and_the_last_administrator_stays(ws):
    authorize("planner", "edit")
    authorize("consultant", "import")
    with pytest.raises(PermissionError, match="consultant"):
        authorize("consultant", "edit")
    with pytest.raises(PermissionError):
        authorize("public", "export")
    with pytest.raises(PermissionError):
        authorize(None, "read")
    add_user(ws, "admin", "administrator", SECRET)
    add_user(ws, "zhao", "consultant", SECRET)
    with pytest.raises(UploadError, match="last administrator"):
        remove_user(ws, "admin")
    reset_password(ws, "zhao", "a brand new secret", role="planner")
    assert sign_in(ws, "zhao", "a brand new secret") == "planner"
    assert sign_in(ws, "zhao", SECRET) is None
    remove_user(ws, "zhao")
    assert list(list_users(ws)["user"]) == ["admin"]


def test_users_are_never_exported(ws, tmp_path):
    add_user(ws, "admin", "administrator", SECRET)
    out = tmp_path / "all.gpkg"
    assert main(["export", "--all", "--workspace", str(ws.location), "--out", str(out)]) == 0
    with sqlite3.connect(out) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert "townmap_users" not in tables and b"scrypt$" not in out.read_bytes()


def test_users_cli_reads_the_password_from_stdin_and_never_prints_it(ws, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    args = [
        "users",
        "add",
        "wang",
        "--role",
        "planner",
        "--password-stdin",
        "--workspace",
        str(ws.location),
    ]
    assert main(args) == 0
    assert main(["users", "list", "--workspace", str(ws.location)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("tiny\n"))
    assert (
        main(["users", "reset", "wang", "--password-stdin", "--workspace", str(ws.location)]) == 2
    )
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and "wang" in out.out
    assert sign_in(ws, "wang", SECRET) == "planner"


def test_every_write_checks_the_role_on_the_server_side(ws):
    import shapely

    from townmap.management.editing import raise_nonconformity, save_edits
    from townmap.participation.comments import add_comment, moderate

    table = ws.read_table("ems_aspects").assign(control="checked")
    save_edits(
        ws.as_actor(Actor("solo")), "ems_aspects", table
    )  # no users yet: single-user default
    add_user(ws, "admin", "administrator", SECRET)
    add_user(ws, "li", "planner", SECRET)
    before = fingerprint(ws)
    with pytest.raises(PermissionError):
        save_edits(ws.as_actor(Actor("x", "consultant")), "ems_aspects", table.assign(control="x"))
    with pytest.raises(PermissionError):
        save_edits(
            ws.as_actor(Actor("x")), "ems_aspects", table.assign(control="x")
        )  # not signed in
    with pytest.raises(PermissionError):
        raise_nonconformity(
            ws.as_actor(Actor("x", "public")),
            source_kind="other",
            source_ref="",
            description="d",
            clause="10.2",
        )
    with pytest.raises(PermissionError):
        add_comment(
            ws.as_actor(Actor("x", "public")),
            shapely.Point(119.93, 31.38),
            category="water",
            text="t",
        )
    with pytest.raises(PermissionError):
        moderate(ws.as_actor(Actor("x", "consultant")), {"C-0001": "approved"})
    assert fingerprint(ws) == before
    save_edits(ws.as_actor(Actor("li", "planner")), "ems_aspects", table.assign(control="y"))
    assert (ws.read_table("ems_aspects")["control"] == "y").all()


def test_pages_ask_for_sign_in_when_the_workspace_has_users(ws, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from townmap import PROJECT_ROOT

    add_user(ws, "li", "planner", SECRET)
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(ws.location))
    at = AppTest.from_file(str(PROJECT_ROOT / "townmap/ui/ems_page.py"), default_timeout=120)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.dataframe  # nothing of the register before signing in
    at.text_input[0].set_value("li")
    at.text_input[1].set_value("wrong password!")
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert any("Wrong user name or password" in e.value for e in at.error)
    at.text_input[1].set_value(SECRET)
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception and at.dataframe
    assert any("Signed in: li (planner)" in c.value for c in at.sidebar.caption)


def test_imports_scenarios_and_exports_check_the_role_too(ws, tmp_path):
    from townmap.analysis.scenarios import delete_scenario
    from townmap.errors import AccessDenied
    from townmap.io.export import export_layer
    from townmap.io.importer import ImportOptions, commit_import, plan_import, undo_last_import

    csv = tmp_path / "r.csv"
    csv.write_text(
        "编号,名称,英文名,类型,人数,经度,纬度\nSRX,新小学,New School,school,300,119.95,31.40\n",
        encoding="utf-8",
    )
    plan = plan_import(
        csv,
        ImportOptions(layer_id="sensitive_receptors", mode="replace"),
        ws.catalog or __import__("townmap.catalog").catalog.load_catalog(),
    )
    add_user(ws, "admin", "administrator", SECRET)
    add_user(ws, "zhao", "consultant", SECRET)
    add_user(ws, "visitor", "public", SECRET)
    add_user(ws, "wu", "consultant", SECRET)
    before = fingerprint(ws)
    with pytest.raises(AccessDenied, match="public"):
        commit_import(ws.as_actor(Actor("visitor", "public")), plan)
    with pytest.raises(AccessDenied):
        undo_last_import(ws.as_actor(Actor("visitor", "public")))
    with pytest.raises(AccessDenied):
        delete_scenario(ws.as_actor(Actor("wu", "consultant")), "any")
    with pytest.raises(AccessDenied):
        export_layer(ws.as_actor(Actor("visitor", "public")), "enterprises", tmp_path / "e.csv")
    assert fingerprint(ws) == before and not (tmp_path / "e.csv").exists()
    commit_import(ws.as_actor(Actor("zhao", "consultant")), plan)  # a consultant may import
    export_layer(ws.as_actor(Actor("zhao", "consultant")), "enterprises", tmp_path / "e.csv")
    cli = ["export", "--layer", "enterprises", "--workspace", str(ws.location), "--out"]
    assert main([*cli, str(tmp_path / "cli.csv")]) == 0  # the shell acts as administrator


def test_the_server_keeps_xsrf_protection_and_an_upload_limit():
    import tomllib

    from townmap import PROJECT_ROOT
    from townmap.io.archive import DEFAULT_LIMITS

    server = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["enableXsrfProtection"] is True and server["enableCORS"] is True
    assert server["maxUploadSize"] * 2**20 == DEFAULT_LIMITS.max_archive_bytes
    assert server["address"] == "127.0.0.1"  # loopback unless the bureau decides otherwise


def test_a_consultant_edits_and_undoes_only_their_own_imports(ws, tmp_path):
    from townmap.catalog import load_catalog
    from townmap.errors import AccessDenied
    from townmap.io.export import export_layer
    from townmap.io.importer import ImportOptions, commit_import, plan_import, undo_last_import
    from townmap.management.editing import save_edits

    catalog = load_catalog()
    add_user(ws, "admin", "administrator", SECRET)
    add_user(ws, "zhao", "consultant", SECRET)
    add_user(ws, "qian", "consultant", SECRET)
    add_user(ws, "li", "planner", SECRET)
    table = ws.read_table("ems_aspects")
    with pytest.raises(AccessDenied, match="imported"):  # not imported by anyone yet
        save_edits(
            ws.as_actor(Actor("zhao", "consultant")),
            "ems_aspects",
            table.assign(control="z"),
            catalog=catalog,
        )
    csv = export_layer(
        ws.as_actor(Actor("zhao", "consultant")), "ems_aspects", tmp_path / "aspects.csv"
    )
    plan = plan_import(csv, ImportOptions(layer_id="ems_aspects", mode="replace"), catalog)
    assert plan.ok, plan.blocking
    commit_import(ws.as_actor(Actor("zhao", "consultant")), plan)
    table = ws.read_table("ems_aspects")
    before = fingerprint(ws)
    with pytest.raises(AccessDenied, match="qian"):  # another consultant's import
        save_edits(
            ws.as_actor(Actor("qian", "consultant")),
            "ems_aspects",
            table.assign(control="q"),
            catalog=catalog,
        )
    with pytest.raises(AccessDenied):  # a table zhao did not import
        save_edits(
            ws.as_actor(Actor("zhao", "consultant")),
            "ems_objectives",
            ws.read_table("ems_objectives"),
            catalog=catalog,
        )
    with pytest.raises(AccessDenied):
        undo_last_import(ws.as_actor(Actor("qian", "consultant")))
    assert fingerprint(ws) == before
    save_edits(
        ws.as_actor(Actor("zhao", "consultant")),
        "ems_aspects",
        table.assign(control="z"),
        catalog=catalog,
    )
    assert (ws.read_table("ems_aspects")["control"] == "z").all()
    log = ws.read_table("change_log")
    assert (log["user"] == "zhao").any()
    save_edits(
        ws.as_actor(Actor("li", "planner")),
        "ems_objectives",
        ws.read_table("ems_objectives"),
        catalog=catalog,
    )  # a planner edits everything
    undo_last_import(ws.as_actor(Actor("zhao", "consultant")))  # their own import


def test_single_sign_on_lets_in_only_registered_addresses(ws, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from townmap import PROJECT_ROOT
    from townmap.auth.users import sso_role

    add_user(ws, "admin", "administrator", SECRET)
    add_user(ws, "li@bureau.example.cn", "planner", sso=True)
    with pytest.raises(UploadError, match="e-mail"):
        add_user(ws, "not an address", "planner", sso=True)
    assert sign_in(ws, "li@bureau.example.cn", "sso") is None  # no password ever matches
    assert sso_role(ws, "LI@bureau.example.cn") == "planner"
    assert sso_role(ws, "admin") is None  # a password user is not an SSO user

    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(ws.location))

    def page(user: dict, with_auth: bool = True) -> AppTest:
        at = AppTest.from_file(str(PROJECT_ROOT / "townmap/ui/ems_page.py"), default_timeout=120)
        at.query_params["lang"] = "en"
        if with_auth:
            at.secrets["auth"] = {
                "redirect_uri": "http://localhost:8501/oauth2callback",
                "cookie_secret": "x" * 32,
                "client_id": "townmap",
                "client_secret": "s",
                "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
            }
        at.user = user
        return at.run()

    plain = page({"is_logged_in": False}, with_auth=False)
    assert not [b for b in plain.button if "identity provider" in b.label]
    out = page({"is_logged_in": False})
    assert [b for b in out.button if "identity provider" in b.label] and not out.dataframe
    stranger = page({"is_logged_in": True, "email": "zhang@elsewhere.example.com"})
    assert any("not registered" in e.value for e in stranger.error) and not stranger.dataframe
    li = page({"is_logged_in": True, "email": "li@bureau.example.cn"})
    assert not li.exception and li.dataframe
    assert any("li@bureau.example.cn (planner)" in c.value for c in li.sidebar.caption)


def test_a_removed_or_demoted_user_is_refused_although_still_signed_in(ws):
    """The door reads the role from the users table under the lock, not from the
    session: a page signed in before the change keeps no more rights than the table."""
    from townmap.errors import AccessDenied
    from townmap.management.editing import save_edits

    add_user(ws, "admin", "administrator", SECRET)
    add_user(ws, "li", "planner", SECRET)
    session = ws.as_actor(Actor("li", "planner"))  # signed in as a planner
    table = ws.read_table("ems_aspects")
    save_edits(session, "ems_aspects", table.assign(control="a"))
    reset_password(ws, "li", "another good secret", role="public")
    with pytest.raises(AccessDenied, match="'public' may not edit"):
        save_edits(session, "ems_aspects", table.assign(control="b"))
    remove_user(ws, "li")
    with pytest.raises(AccessDenied, match="not a user"):
        save_edits(session, "ems_aspects", table.assign(control="c"))
    assert (ws.read_table("ems_aspects")["control"] == "a").all()
