"""`manage.py check` on a host site that forgot a piece prints the matching system check."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOSTSITE = Path(__file__).resolve().parent / "hostsite"


def manage_check(tmp_path, **env):
    """Run the host site's `manage.py check` on the repository's apps; (exit code, output)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    full_env.update(PYTHONPATH=f"{HOSTSITE}{os.pathsep}{ROOT}", HOSTSITE_DB=str(tmp_path / "db.sqlite3"),
                    **env)
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=HOSTSITE, env=full_env,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def test_complete_host_site_is_clean(tmp_path):
    code, out = manage_check(tmp_path)
    assert code == 0, out
    assert "System check identified no issues" in out, out


@pytest.mark.parametrize("broken, check_id", [
    ("channel_layers", "calls.E001"),
    ("asgi_setting", "calls.E002"),
    ("asgi_http_only", "calls.E003"),
    ("no_rest_framework.authtoken", "calls.E004"),
    ("calls_typo", "calls.E005"),
    ("policy_path", "calls.E006"),
])
def test_a_missing_piece_is_an_error_with_its_id(tmp_path, broken, check_id):
    code, out = manage_check(tmp_path, HOSTSITE_BREAK=broken)
    assert code != 0, out
    assert f"({check_id})" in out, out
    # Precise: only that one of calls' checks fires.
    assert out.count("(calls.") == 1, out


@pytest.mark.parametrize("app", ["registrations", "calls"])
def test_one_app_of_the_pair_missing_stops_django_with_the_check_id(tmp_path, app):
    code, out = manage_check(tmp_path, HOSTSITE_BREAK=f"no_{app}")
    assert code != 0
    assert f"ImproperlyConfigured: (calls.E004) '{app}' is not in INSTALLED_APPS" in out, out


def test_in_memory_layer_outside_debug_is_a_warning(tmp_path):
    code, out = manage_check(tmp_path, HOSTSITE_DEBUG="0")
    assert code == 0, out  # a warning: `check` still passes
    assert "(calls.W001)" in out and out.count("(calls.") == 1, out


def test_the_demo_project_is_clean():
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env.update(DJANGO_DEBUG="1")
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "(calls." not in done.stdout + done.stderr, done.stdout + done.stderr


def test_w002_sees_through_channels_wrappers_and_stays_quiet_on_opaque_ones():
    from channels.routing import ProtocolTypeRouter, URLRouter

    from calls.asgi import websocket_application
    from calls.checks import _find_consumer

    assert _find_consumer(ProtocolTypeRouter({"websocket": websocket_application()})) == (True, False)
    assert _find_consumer(ProtocolTypeRouter({"websocket": URLRouter([])})) == (False, False)

    async def own_app(scope, receive, send):
        pass

    assert _find_consumer(ProtocolTypeRouter({"websocket": own_app})) == (False, True)
