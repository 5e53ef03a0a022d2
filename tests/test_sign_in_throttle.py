"""Password guessing is slowed, then stopped: a growing delay after the free failures, a
lock after ``lock_after`` in a row (even the right password is refused), a log line for
every failure and every lock; the rules come from ``layers/auth/sign_in.toml``."""

from __future__ import annotations

import logging
import tomllib

import pytest

import townmap.auth.throttle as throttle_module
from townmap.auth.throttle import Policy, Throttle
from townmap.auth.users import add_user
from townmap.settings import layers_dir, shell_actor

SECRET = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_policy_is_the_layer_file():
    rules = tomllib.loads((layers_dir() / "auth" / "sign_in.toml").read_text(encoding="utf-8"))
    assert Policy.from_layers() == Policy(**rules)
    assert rules["lock_after"] < 20  # the attack below must meet the lock


def test_twenty_fast_guesses_meet_growing_delays_then_a_lock(caplog):
    clock = Clock()
    policy = Policy(free_failures=3, first_delay_s=2, max_delay_s=60, lock_after=10)
    throttle = Throttle(policy, clock=clock)
    checked, waits = 0, []
    caplog.set_level(logging.WARNING, logger="townmap.auth")
    for _ in range(20):  # one guess every 0.4 s, as the attack did
        verdict = throttle.check("ws", "admin", "10.0.0.9")
        if verdict.allowed:
            checked += 1
            throttle.failed("ws", "admin", "10.0.0.9")
        else:
            waits.append(verdict.wait_s)
        clock.now += 0.4
    # three free failures (t = 0, 0.4, 0.8 s), then one 2 s after (2.8 s), one 4 s after that
    # (6.8 s); the 20 guesses end at 7.6 s: 5 checked, 15 refused unchecked
    assert checked == 5
    assert waits and all(w > 0 for w in waits)
    # waiting out each delay: the delays double, then the user is locked
    seen = []
    while not throttle.check("ws", "admin", "10.0.0.9").locked:
        verdict = throttle.check("ws", "admin", "10.0.0.9")
        if verdict.allowed:
            throttle.failed("ws", "admin", "10.0.0.9")
        else:
            seen.append(verdict.wait_s)
            clock.now += verdict.wait_s
    assert seen == sorted(seen) and seen[-1] > seen[0]
    locked = throttle.check("ws", "admin", "10.0.0.9")
    assert locked.locked and locked.wait_s == 15 * 60
    # the right password is not even checked now, from another client too
    assert not throttle.check("ws", "admin", "127.0.0.1").allowed
    failures = [r for r in caplog.records if "sign-in failed" in r.getMessage()]
    assert len(failures) == policy.lock_after
    assert any("locked" in r.getMessage() for r in caplog.records)
    clock.now += 15 * 60
    assert throttle.check("ws", "admin", "10.0.0.9").allowed  # the lock runs out


def test_a_client_guessing_many_names_is_slowed_too():
    clock = Clock()
    throttle = Throttle(Policy(), clock=clock)
    for i in range(Policy().free_failures + 1):
        throttle.failed("ws", f"user{i}", "10.0.0.9")
    assert not throttle.check("ws", "someone-else", "10.0.0.9").allowed
    assert throttle.check("ws", "someone-else", "10.0.0.10").allowed
    assert throttle.check("another-ws", "user0", "10.0.0.9").allowed


def test_success_clears_the_users_count_but_not_the_clients():
    clock = Clock()
    throttle = Throttle(Policy(), clock=clock)
    for _ in range(3):
        throttle.failed("ws", "li", "10.0.0.9")
    throttle.succeeded("ws", "li", "10.0.0.9")
    throttle.failed("ws", "li", "10.0.0.9")
    assert not throttle.check("ws", "wang", "10.0.0.9").allowed  # 4 from this client
    assert throttle.check("ws", "li", "10.0.0.10").allowed  # li: 1 since the success


def test_the_sign_in_form_refuses_the_right_password_once_locked(demo_ws, tmp_path, monkeypatch):
    """Twenty wrong passwords through the real form, then the right one: refused."""
    import shutil

    from streamlit.testing.v1 import AppTest

    from townmap import PROJECT_ROOT
    from townmap.store import open_workspace

    shutil.copytree(demo_ws.folder, tmp_path / "ws")
    ws = open_workspace(tmp_path / "ws", catalog=demo_ws.catalog, actor=shell_actor())
    add_user(ws, "li", "planner", SECRET)
    clock = Clock()
    monkeypatch.setattr(throttle_module, "_shared", Throttle(Policy.from_layers(), clock=clock))
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(ws.location))
    at = AppTest.from_file(str(PROJECT_ROOT / "townmap/ui/ems_page.py"), default_timeout=120)
    at.query_params["lang"] = "en"
    at.run()

    def attempt(password: str) -> list[str]:
        at.text_input[0].set_value("li")
        at.text_input[1].set_value(password)
        next(b for b in at.button if b.label == "Sign in").click().run()
        clock.now += 0.4
        return [e.value for e in at.error]

    answers = [attempt(f"guess number {i}") for i in range(20)]
    # as in the unit test above: 5 of 20 guesses 0.4 s apart are checked at all
    assert sum("Wrong user name or password" in " ".join(a) for a in answers) == 5
    assert sum("try again in" in " ".join(a) for a in answers) == 15
    clock.now += 3600  # wait out the delays: each guess now reaches the lock
    for i in range(10):
        attempt(f"patient guess {i}")
        clock.now += 120
    refused = attempt(SECRET)
    assert any("locked" in e for e in refused), refused
    assert not at.dataframe and "townmap_user" not in at.session_state
    clock.now += 15 * 60 + 1
    attempt(SECRET)
    assert not at.exception and at.dataframe  # the lock ran out: the right password works


@pytest.fixture(autouse=True)
def _fresh_shared_throttle(monkeypatch):
    monkeypatch.setattr(throttle_module, "_shared", None)
