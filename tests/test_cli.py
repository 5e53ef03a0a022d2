"""The townmap command: help, demo, layers, and one-line errors with no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from townmap.cli import main

from .conftest import LAYERS


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "townmap.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_help_lists_the_commands():
    out = _run("--help")
    assert out.returncode == 0
    assert "demo" in out.stdout and "layers" in out.stdout


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("townmap")
    assert exe.exists(), "pip install -e . should create the townmap command"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "townmap" in out.stdout


def test_layers_lists_counts_and_crs(demo_ws, capsys):
    assert main(["layers", "--workspace", str(demo_ws.folder)]) == 0
    out, err = capsys.readouterr()
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    n_tve = demo_ws.layer_info("enterprises").features
    assert f" {n_tve} " in lines["enterprises"] and "EPSG:4549" in lines["enterprises"]
    assert "1210000" in lines["dem"]
    assert "乡镇企业" in lines["enterprises"]
    assert "FICTIONAL" in err


def test_layers_reports_a_broken_layer_file_and_still_lists_the_rest(tmp_path, demo_ws, capsys):
    folder = tmp_path / "layers"
    folder.mkdir()
    (folder / "i18n").mkdir()
    for name in ("town", "rivers"):
        (folder / f"{name}.toml").write_text((LAYERS / f"{name}.toml").read_text("utf-8"), "utf-8")
    (folder / "broken.toml").write_text('id = "broken"\nkind = "vector"\n', "utf-8")
    code = main(["layers", "--workspace", str(demo_ws.folder), "--layers-dir", str(folder)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "town" in out and "rivers" in out
    assert "broken.toml" in err and "key 'group'" in err


def test_demo_refuses_to_overwrite_with_one_line_and_no_traceback(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "keep.txt").write_text("precious")
    out = _run("demo", "--out", str(tmp_path / "ws"))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "--force" in out.stderr and "Traceback" not in out.stderr
    assert (tmp_path / "ws" / "keep.txt").read_text() == "precious"


def test_missing_workspace_is_one_line(tmp_path):
    out = _run("layers", "--workspace", str(tmp_path / "none"))
    assert out.returncode == 2
    assert "no workspace" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args", [["demo", "--enterprises", "many"], ["nonsense"], ["demo", "--out", "x", "--seed", "a"]]
)
def test_bad_arguments_exit_with_usage(args):
    out = _run(*args)
    assert out.returncode == 2 and "usage:" in out.stderr


def test_demo_command_builds_a_workspace(tmp_path):
    out = _run("demo", "--out", str(tmp_path / "d"), "--enterprises", "30")
    assert out.returncode == 0, out.stderr
    assert "fictional" in out.stdout
    listing = _run("layers", env={"TOWNMAP_WORKSPACE": str(tmp_path / "d")})
    assert listing.returncode == 0
    assert any(
        line.startswith("enterprises") and " 30 " in line for line in listing.stdout.splitlines()
    )


def test_import_command_reports_and_commits(tmp_path, demo_ws):
    import shutil

    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    csv = tmp_path / "receptors.csv"
    csv.write_bytes(
        "编号,名称,英文名,类型,人数,经度,纬度\nSRX,新小学,New School,school,300,"
        "119.95,31.40\n".encode("gbk")
    )
    dry = _run(
        "import",
        str(csv),
        "--layer",
        "sensitive_receptors",
        "--workspace",
        str(folder),
        "--dry-run",
    )
    # the layer holds the demo's receptors: the dry run refuses as the commit would
    assert dry.returncode == 2 and "--mode" in dry.stderr, dry.stderr
    assert "gb18030" in dry.stdout
    args = ["import", str(csv), "--layer", "sensitive_receptors", "--workspace", str(folder)]
    dry = _run(*args, "--mode", "append", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would be imported" in dry.stdout and "adds 1 feature" in dry.stdout
    done = _run(*args, "--mode", "append")
    assert done.returncode == 0, done.stderr
    assert "imported 1 feature" in done.stdout
    bad = _run(
        "import",
        str(tmp_path / "nope.csv"),
        "--layer",
        "sensitive_receptors",
        "--workspace",
        str(folder),
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr


def _export(demo_ws, out, *extra: str):
    args = ["export", "--workspace", str(demo_ws.folder), "--layer", "villages", "--out"]
    return _run(*args, str(out), *extra)


def test_export_command(tmp_path, demo_ws):
    out = _export(demo_ws, tmp_path / "villages.zip", "--encoding", "gbk")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "villages.zip").is_file()
    bad = _export(demo_ws, tmp_path / "villages.dwg")
    assert bad.returncode == 2 and "cannot export" in bad.stderr and "Traceback" not in bad.stderr
