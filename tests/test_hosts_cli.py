"""`symbolic-ai hosts list|install`: where each host's files go, what install copies (and never clobbers),
one-line errors, and that the files ship in the wheel."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO
from symbolic_ai import hosts_cli
from symbolic_ai.cli import main


def cli(*args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"HOME": str(home), "APPDATA": str(home / "AppData")} if home else {})}
    return subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "hosts", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_list_names_every_host_its_folder_and_whether_installed(tmp_path):
    out = cli("list", home=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {ln.split()[0]: ln for ln in out.stdout.splitlines()[1:]}
    assert sorted(rows) == sorted(hosts_cli.HOSTS)
    assert f"{tmp_path}/Documents/MuseScore3/Plugins" in rows["musescore3"] and " no " in rows["musescore3"]
    assert cli("install", "pd", home=tmp_path).returncode == 0
    rows = {ln.split()[0]: ln for ln in cli("list", home=tmp_path).stdout.splitlines()[1:]}
    assert " yes " in rows["pd"] and f"{tmp_path}/Documents/Pd/externals/symbolic-ai" in rows["pd"]
    assert sys.platform != "linux" or f"{tmp_path}/.config/REAPER/Scripts/symbolic-ai" in rows["reaper"]


@pytest.mark.parametrize("host", sorted(hosts_cli.HOSTS))
def test_install_copies_the_shipped_files_and_says_what_to_click(host, tmp_path):
    dest = tmp_path / "x"
    out = cli("install", host, "--dest", str(dest))
    assert out.returncode == 0, out.stderr
    shipped = [rel.rsplit("/", 1)[1] for rel in hosts_cli.HOSTS[host].files]
    for rel in hosts_cli.HOSTS[host].files:
        assert (dest / rel.rsplit("/", 1)[1]).read_bytes() == (REPO / "bridges" / "hosts" / rel).read_bytes()
    assert out.stdout.startswith(f"installed {hosts_cli.HOSTS[host].title} plugin files into {dest}: ")
    assert "\nnext: " in out.stdout and all(name in out.stdout for name in shipped)
    assert hosts_cli.installed(host, dest) == "yes"


def test_never_overwrites_a_file_it_did_not_write_without_force(tmp_path):
    dest = tmp_path / "Plugins"
    dest.mkdir()
    mine = dest / "symbolic-ai-key.qml"
    mine.write_text("// my own plugin\n")
    out = cli("install", "musescore3", "--dest", str(dest))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert f"{mine}: exists and was not written by symbolic-ai hosts install" in out.stderr and "--force" in out.stderr
    assert mine.read_text() == "// my own plugin\n" and not (dest / "symbolic-ai-chords.qml").exists()  # nothing half-done
    assert cli("install", "musescore3", "--dest", str(dest), "--force").returncode == 0
    assert mine.read_text() != "// my own plugin\n"
    # its own unchanged files are replaced on a reinstall (an upgrade, a new port) ...
    out = cli("install", "musescore3", "--dest", str(dest), "--http-port", "9311")
    assert out.returncode == 0 and '"http://127.0.0.1:9311"' in (dest / "symbolic-ai-local.js").read_text()
    # ... but not one the user edited since
    (dest / "symbolic-ai-local.js").write_text('var URL = "http://127.0.0.1:7000";\n')
    out = cli("install", "musescore3", "--dest", str(dest))
    assert out.returncode == 2 and "symbolic-ai-local.js: exists and was not written" in out.stderr


def test_bad_arguments_are_one_line_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    for args, needle in [(("install", "cubase"), "argument HOST: invalid choice: 'cubase'"),
                         (("install", "pd", "--dest", str(tmp_path / "file")), "not a folder"),
                         (("install", "pd", "--http-port", "0", "--dest", str(tmp_path / "d")),
                          "--http-port must be in 1..65535"),
                         (("remove",), "invalid choice: 'remove'")]:
        out = cli(*args)
        assert out.returncode == 2 and needle in out.stderr and out.stderr.count("\n") == 1, out.stderr
    with pytest.raises(Exception, match="unknown host 'cubase'"):
        hosts_cli.install("cubase", tmp_path)


def test_musescore3_serve_script_runs_this_python(tmp_path):
    if sys.platform == "win32":
        pytest.skip("the .cmd variant is written on Windows")
    assert main(["hosts", "install", "musescore3", "--dest", str(tmp_path)]) == 0
    script = tmp_path / "symbolic-ai-serve.sh"
    assert os.access(script, os.X_OK) and f"'{sys.executable}' '-m' 'symbolic_ai.cli' 'serve'" in script.read_text()
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0


@pytest.mark.slow
def test_the_wheel_ships_every_host_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
                    str(REPO)], check=True, capture_output=True, timeout=600)
    (wheel,) = tmp_path.glob("symbolic_ai-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"symbolic_ai/bridges/hosts/{rel}" for host in hosts_cli.HOSTS.values() for rel in host.files}
    assert wanted <= names, sorted(wanted - names)
