"""The distribution, installed into a fresh virtual environment with a host site that is not ours.

Builds the wheel from a copy of the repository, installs it (with the daphne
extra) into a new venv, migrates the host site in tests/packaging/hostsite (its
own settings, e-mail user model and backend, URL root, call policy and signal
receivers), runs it under that venv's daphne and calls over a real socket.
"""

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from calls.client import ClientError, SignalingClient

ROOT = Path(__file__).resolve().parents[2]
HOSTSITE = Path(__file__).resolve().parent / "hostsite"
PASSWORD = "host-pass-1"
# email, extension, may_call
USERS = [("alice@example.com", "101", True), ("bob@example.com", "102", True),
         ("carol@example.com", "103", False)]
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", "db.sqlite3*", ".pytest_cache", "build", "dist",
    "*.egg-info", "node_modules", "test-artifacts", "bench-results", "staticfiles",
)

pytestmark = pytest.mark.timeout(300)


def run(cmd, **kwargs):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, **kwargs)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built from a copy of the repository (the build writes into its tree)."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(source)])
    (path,) = (base / "dist").glob("*.whl")
    return path


@pytest.fixture(scope="module")
def host_site(wheel, tmp_path_factory):
    """The host site, on the installed wheel, migrated, with its users, served by daphne."""
    base = tmp_path_factory.mktemp("host")
    venv = base / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", f"{wheel}[daphne]"])
    site = base / "site"
    shutil.copytree(HOSTSITE, site, ignore=NOT_COPIED)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV")}
    env.update(HOSTSITE_DB=str(base / "db.sqlite3"), PYTHONPATH=str(site))
    installed_at = run([str(python), "-c", "import calls, registrations; print(calls.__file__); "
                        "print(registrations.__file__)"], cwd=site, env=env)
    run([str(python), "manage.py", "migrate", "--noinput", "-v0"], cwd=site, env=env)
    users = "; ".join(
        f"U.objects.create_user({email!r}, {PASSWORD!r}, extension={ext!r}, may_call={may})"
        for email, ext, may in USERS
    )
    run([str(python), "manage.py", "shell", "-c",
         f"from django.contrib.auth import get_user_model as g; U = g(); {users}"], cwd=site, env=env)
    check = run([str(python), "manage.py", "check"], cwd=site, env=env)

    port = free_port()
    log = open(base / "daphne.log", "w")
    daphne = subprocess.Popen(
        [str(venv / "bin" / "daphne"), "-b", "127.0.0.1", "-p", str(port), "mysite.asgi:application"],
        cwd=site, env={**env, "DJANGO_SETTINGS_MODULE": "mysite.settings"},
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        assert daphne.poll() is None, (base / "daphne.log").read_text()[-3000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "daphne did not start listening"
            time.sleep(0.1)
    yield {"installed_at": installed_at, "check": check, "db": base / "db.sqlite3",
           "http": f"http://127.0.0.1:{port}", "ws": f"ws://127.0.0.1:{port}/ws/",
           "log": base / "daphne.log", "venv": venv}
    daphne.terminate()
    try:
        daphne.wait(10)
    except subprocess.TimeoutExpired:
        daphne.kill()
    log.close()


def test_wheel_holds_the_two_apps_whole_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/")[0] for name in names}
    # The demo project (callproject), the tests and the scripts stay out.
    assert {t for t in tops if not t.endswith(".dist-info")} == {"calls", "registrations"}, tops
    # Every file of both apps is in it: code, migrations, templates, static files.
    expected = {
        path.relative_to(ROOT).as_posix()
        for app in ("calls", "registrations")
        for path in (ROOT / app).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert expected - names == set()
    assert "calls/migrations/0001_initial.py" in names
    assert "registrations/migrations/0001_initial.py" in names
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Provides-Extra: redis" in metadata and "channels-redis" in metadata
    assert "Requires-Dist: channels" in metadata


def test_installed_apps_come_from_the_venv_not_the_repository(host_site):
    venv = str(host_site["venv"])
    for line in host_site["installed_at"].split():
        assert line.startswith(venv) and "site-packages" in line, host_site["installed_at"]
    assert "System check identified no issues" in host_site["check"]


def notes(db, call_id=None):
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT signal, call_id, detail FROM accounts_callnote ORDER BY id").fetchall()
    return [(s, c, json.loads(d)) for s, c, d in rows if call_id is None or c == call_id]


async def test_two_host_users_call_over_daphne(host_site):
    # The REST include works under the host's URL root, with the host's own backend.
    def token():
        request = urllib.request.Request(
            f"{host_site['http']}/calling/api/auth/token/",
            data=json.dumps({"username": "bob@example.com", "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["token"]

    bob_token = await asyncio.to_thread(token)
    async with SignalingClient.connect(host_site["ws"]) as alice, \
            SignalingClient.connect(host_site["ws"]) as bob:
        await alice.login("alice@example.com", password=PASSWORD)  # EmailBackend
        await bob.login("bob@example.com", token=bob_token)
        # Extension 102 is bob: the host's DESTINATION_RESOLVER.
        call_id = (await alice.call("start", callee="102", offer={"sdp": "v=0 offer"}))["call_id"]
        invite = await bob.next_invite()
        assert invite["data"]["call_id"] == call_id
        assert invite["data"]["caller"]["user"] == "alice@example.com"
        await bob.call("ringing", call_id=call_id)
        await bob.call("answered", call_id=call_id, answer={"sdp": "v=0 answer"})
        answer = await alice.next_event("answer")
        assert answer["body"]["answer"] == {"sdp": "v=0 answer"}
        await alice.call("hangup", call_id=call_id)
        hangup = await alice.next_event("hangup")
        assert hangup["body"]["code"] == 0

    deadline = time.monotonic() + 10
    while len(notes(host_site["db"], call_id)) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # a fourth (duplicate) note would show by now
    seen = notes(host_site["db"], call_id)
    assert [s for s, _, _ in seen] == ["started", "answered", "ended"], seen
    started, answered, ended = (d for _, _, d in seen)
    assert started["caller"] == "alice@example.com" and started["callee"] == "102"
    assert len(started["destinations"]) == 1
    assert answered["answered_by"] == "bob@example.com"
    assert ended["code"] == 0

    with sqlite3.connect(host_site["db"]) as conn:
        state, code, caller = conn.execute(
            "SELECT c.state, c.hangup_code, u.email FROM calls_call c "
            "JOIN accounts_user u ON u.id = c.caller_id WHERE c.call_id = ?", (call_id,)).fetchone()
    assert (state, code, caller) == ("ended", 0, "alice@example.com")


async def test_host_policy_refuses_a_call_with_its_reason(host_site):
    async with SignalingClient.connect(host_site["ws"]) as carol, \
            SignalingClient.connect(host_site["ws"]) as alice:
        await carol.login("carol@example.com", password=PASSWORD)
        await alice.login("alice@example.com", password=PASSWORD)
        before = notes(host_site["db"])
        with pytest.raises(ClientError) as refused:
            await carol.call("start", callee="alice@example.com")
        assert refused.value.code == 100030
        assert refused.value.error == "Unauthorized: carol@example.com may not place calls"
        assert await alice.no_event(0.3) is None
        assert alice.invites.empty()
    assert notes(host_site["db"]) == before  # no signal for a refused call


def test_rest_api_works_under_the_host_url_root_without_host_drf_settings(host_site):
    def get(path, token=None):
        headers = {"Authorization": f"Token {token}"} if token else {}
        request = urllib.request.Request(f"{host_site['http']}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, None

    request = urllib.request.Request(
        f"{host_site['http']}/calling/api/auth/token/",
        data=json.dumps({"username": "alice@example.com", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.load(response)["token"]
    assert get("/calling/api/calls/")[0] in (401, 403)
    status, body = get("/calling/api/calls/", token)
    assert status == 200 and "count" in body and "results" in body, (status, body)
