"""The desktop envs' parts that need no display: the pixel action set, xdotool command lines, the home
folder as state, settings files, workbooks, the checker, and the synthesis planners."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest

from envgym.actions import InvalidAction, parse_action
from envgym.pixel_actions import key_combo, normalize_key, parse_pixel_action
from envgym.envs.desktop import homedir, xinput
from envgym.envs.desktop.checking import check_state
from envgym.envs.desktop.firstscreens import FirstScreens, state_key
from envgym.envs.desktop.xinput import DESKTOP_ACTIONS
from envgym.envs.desktop.gnumeric.app import GnumericApp
from envgym.envs.desktop.gnumeric.workbook import canonical_formula, read_workbook, same_workbook, shift_references, workbook_bytes
from envgym.envs.desktop.mousepad.app import MousepadApp
from envgym.envs.desktop.oracle import Unplannable
from envgym.envs.desktop.pcmanfm.app import PCManFMApp
from envgym.envs.desktop.taskgen import plan_steps

SCREEN = (1280, 800)


def pixel(text: str):
    return parse_pixel_action(parse_action(text), SCREEN, DESKTOP_ACTIONS, area="screen")


# ---------------------------------------------------------------------------------------- actions
def test_pixel_actions_parse_into_points_keys_and_text():
    assert pixel("click(10, 20)").points == ((10.0, 20.0),)
    assert pixel("right_click(5, 6)").button == "right" and pixel("click(5, 6, button='right')").button == "right"
    assert pixel("double_click(1, 2)").clicks == 2
    assert pixel("drag(1, 2, 3, 4)").points == ((1.0, 2.0), (3.0, 4.0))
    assert pixel("scroll(0, -250)").delta == (0.0, -250.0)
    assert pixel('key("ctrl+shift+s")').keys == ("Control", "Shift", "s")
    assert pixel("wait(0.5)").seconds == 0.5 and pixel("wait()").seconds == 1.0
    assert key_combo("ctrl++") == ("Control", "+") and normalize_key("esc") == "Escape"


@pytest.mark.parametrize("text, message", [
    ("click(1280, 3)", "outside the 1280x800 screen"), ("click(-1, 3)", "outside"), ("click(1)", "missing the argument 'y'"),
    ("click('a', 2)", "must be a number"), ("click(1, 2, button='side')", "button must be"),
    ("wait(60)", "between 0 and 10"), ("type(3)", "must be a string"), ('key("ctrl++x+")', "malformed"),
    ("fly(1, 2)", "unknown action"), ("hover(1, 2)", "unknown action"),
])
def test_bad_pixel_actions_are_explained(text, message):
    with pytest.raises(InvalidAction, match=message):
        pixel(text)
    with pytest.raises(InvalidAction, match="must be a number"):
        parse_pixel_action(parse_action({"name": "click", "arguments": {"x": float("nan"), "y": 1}}), SCREEN, DESKTOP_ACTIONS)


def test_xdotool_command_lines():
    assert xinput.commands(pixel("click(10.4, 20.6)")) == [["mousemove", "10", "21", "click", "--repeat", "1", "--delay", "80", "1"]]
    assert xinput.commands(pixel("right_click(1, 2)"))[0][-1] == "3"
    assert xinput.commands(pixel("scroll(0, 250)")) == [["click", "--repeat", "2", "--delay", "30", "5"]]
    assert xinput.commands(pixel("scroll(-40, 0)")) == [["click", "--repeat", "1", "--delay", "30", "6"]]
    drag = xinput.commands(pixel("drag(0, 0, 60, 0)"))[0]
    assert drag[:5] == ["mousemove", "0", "0", "mousedown", "1"] and drag[-2:] == ["mouseup", "1"] and drag.count("mousemove") == 7
    # xdotool's type drops newlines and swallows every later argument: one command line per run
    assert xinput.commands(pixel('type("a b\\nc\\td")')) == [
        ["type", "--delay", "3", "--", "a b"], ["key", "Return"], ["type", "--delay", "3", "--", "c"], ["key", "Tab"],
        ["type", "--delay", "3", "--", "d"]]
    assert xinput.keysym("Enter") == "Return" and xinput.keysym("+") == "0x2b" and xinput.keysym("€") == "0x10020ac"
    assert xinput.key_arguments(("Control", "S")) == "ctrl+0x73", "ctrl+S is Ctrl+S, not Ctrl+Shift+S"
    with pytest.raises(InvalidAction, match="only Control, Shift, Alt and Meta"):
        xinput.key_arguments(("a", "b"))
    with pytest.raises(InvalidAction, match="NUL"):
        xinput.commands(parse_pixel_action(parse_action({"name": "type", "arguments": {"text": "a\x00b"}}), SCREEN, DESKTOP_ACTIONS))


# ---------------------------------------------------------------------------------------- state
def write(home, state, config=None):
    """Stage ``state`` and swap it in; the old home is returned moved aside, then deleted (as the env does)."""
    old = homedir.swap_in(home, homedir.stage_home(home, state, lambda target, path, value: False, config or {}))
    if old is not None:
        assert old.parent == home.parent and old.name.startswith(f".{home.name}.old-") and (old / "home").is_dir()
        shutil.rmtree(old)


def test_home_folder_round_trip_and_fixed_times(tmp_path):
    home = tmp_path / "user"
    state = {"files": {"Documents/a.txt": {"text": "hi\n"}, "Pictures/x.bin": {"base64": "AAEC/w=="}},
             "folders": ["Documents/Empty"]}
    write(home, state, {".config/app.conf": "k=v\n"})
    snap = homedir.snapshot(home, (".config/app.conf",))
    assert homedir.parse_files(snap.files, lambda p, d: None) == state["files"]
    assert set(snap.folders) == {*homedir.STANDARD_FOLDERS, "Documents/Empty"} and snap.config == {".config/app.conf": b"k=v\n"}
    assert os.stat(home / "Documents/a.txt").st_mtime == homedir.FIXED_MTIME
    write(home, {"files": {}})
    assert not (home / "Documents/a.txt").exists(), "a reset empties the home folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["user"]


def test_first_screens_are_remembered_per_state_with_their_images():
    screens = FirstScreens(capacity=2)
    key, other = state_key("App", "/home/user", (1280, 800), {"files": {}}), state_key("App", "/home/user2", (1280, 800), {"files": {}})
    assert key != other and screens.digest(key) is None
    encoded = []

    def encode():
        encoded.append(1)
        return b"png"

    assert screens.image(key, b"d1", "png:80", encode) == b"png" and len(encoded) == 1, "nothing remembered: encoded"
    screens.remember(key, b"d1")
    assert screens.digest(key) == b"d1"
    screens.image(key, b"d1", "png:80", encode)
    screens.image(key, b"d1", "png:80", encode)
    assert len(encoded) == 2, "the remembered frame is encoded once"
    screens.image(key, b"d2", "png:80", encode)
    assert len(encoded) == 3 and screens.digest(key) == b"d1", "another frame is encoded, not remembered"
    screens.remember(key, b"d2")
    screens.image(key, b"d2", "png:80", encode)
    assert len(encoded) == 4, "a new frame for the state drops the old image"
    screens.remember(other, b"d3")
    screens.digest(key)  # used: the most recent
    screens.remember(state_key("third"), b"d4")
    assert screens.digest(other) is None and screens.digest(key) == b"d2", "the least recently used state goes"


@pytest.mark.parametrize("files", [{"../x": {"text": ""}}, {"/etc/x": {"text": ""}}, {".config/x": {"text": ""}},
                                   {"a": {"base64": "@@"}}, {"a": {"size": 3}}, {"a": "text"}])
def test_unsafe_or_malformed_states_are_refused_and_lose_nothing(tmp_path, files):
    home = tmp_path / "user"
    write(home, {"files": {"keep.txt": {"text": "kept"}}})
    with pytest.raises(homedir.StateFormatError):
        write(home, {"files": files})
    assert (home / "keep.txt").read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == ["user"]


def test_settings_files_round_trip(tmp_path):
    mousepad, pcmanfm = MousepadApp(), PCManFMApp()
    settings = mousepad.validate_settings({"show-line-numbers": True, "tab-width": 4, "color-scheme": "it's"})
    config = {path: text.encode() for path, text in mousepad.config_files(settings, tmp_path).items()}
    assert mousepad.read_settings(config, tmp_path) == settings
    assert mousepad.read_settings({}, tmp_path) == MousepadApp.default_settings
    settings = pcmanfm.validate_settings({"show_hidden": True, "sort": "size;ascending;", "bookmarks": ["Documents/P Q"]})
    config = {path: text.encode() for path, text in pcmanfm.config_files(settings, tmp_path).items()}
    assert pcmanfm.read_settings(config, tmp_path) == settings
    for bad in ({"nope": 1}, {"tab-width": "4"}, {"show-line-numbers": 1}):
        with pytest.raises(homedir.StateFormatError):
            mousepad.validate_settings(bad)


def test_workbooks_round_trip_through_gnumeric_xml(tmp_path):
    workbook = {"sheets": [{"name": "Budget", "cells": {"A1": "Item", "B2": 1200, "B3": 2.5, "C1": True},
                            "bold": ["A1"], "formats": {"B3": "0%"}},
                           {"name": "Notes", "cells": {"A1": 'say "hi"'}}]}
    data = workbook_bytes(workbook)
    assert gzip.decompress(data).startswith(b"<?xml")
    assert read_workbook(data, tmp_path) == workbook  # no formula: no ssconvert needed
    assert same_workbook({"sheets": [{"name": "S", "cells": {"A1": {"formula_value": 3}}}]},
                         {"sheets": [{"name": "S", "cells": {"A1": "=1+2"}, "values": {"A1": 3.0}}]})
    assert not same_workbook({"sheets": [{"name": "S", "cells": {"A1": {"formula_value": 3}}}]},
                             {"sheets": [{"name": "S", "cells": {"A1": 3}}]}), "a typed number is not a formula"


def test_shared_formulas_and_canonical_form():
    assert shift_references("=sum(B2:B3)*$C$1+log10(A1)", 2, 1) == "=sum(C4:C5)*$C$1+log10(B3)"
    assert shift_references('=B2&"B2"', 1, 0) == '=B3&"B2"', "text in quotes is not a reference"
    assert canonical_formula('=sum( b2:b3 )&"a b"') == '=SUM(B2:B3)&"a b"'


# ---------------------------------------------------------------------------------------- checking
def test_checker_scores_requested_changes_and_nothing_else():
    initial = {"files": {"a.txt": {"text": "x\n"}, "b.txt": {"text": "keep"}}, "folders": ["D"], "settings": {"s": False}}
    params = {"files": {"a.txt": {"text": "y"}}, "settings": {"s": True}}
    done = {**initial, "files": {"a.txt": {"text": "y\n"}, "b.txt": {"text": "keep"}}, "settings": {"s": True}}
    assert check_state(params, initial, done, "")[0] == 1.0, "a trailing newline is not a difference"
    assert check_state(params, initial, initial, "")[0] == 0.0
    for side_effect in ({"files": {**done["files"], "c.txt": {"text": ""}}}, {"folders": ["D", "E"]},
                        {"files": {"a.txt": {"text": "y"}, "b.txt": {"text": "changed"}}}):
        score, parts = check_state(params, initial, {**done, **side_effect}, "")
        assert score == 0.0, side_effect
    moved = {"files": {"new/b.txt": {"same_as": "b.txt"}, "b.txt": {"absent": True}}, "folders": {"present": ["new"]}}
    after = {"files": {"a.txt": {"text": "x\n"}, "new/b.txt": {"text": "keep"}}, "folders": ["D", "new"], "settings": {"s": False}}
    assert check_state(moved, initial, after, "")[0] == 1.0
    assert check_state({"answer": {"number": 3}}, initial, initial, "there are 3")[0] == 1.0


# ---------------------------------------------------------------------------------------- planning
def test_planners_turn_diffs_into_plans_or_refuse():
    state = {"files": {"Documents/n.txt": {"text": "a\n"}}, "folders": ["Documents"], "open": ["Documents/n.txt"],
             "settings": dict(MousepadApp.default_settings)}
    golden = {**state, "files": {"Documents/n.txt": {"text": "b\n"}}, "settings": {**state["settings"], "tab-width": 4}}
    plan = MousepadApp().plan_change(state, golden)
    assert plan == [{"menu": ["Document", "Tab Size", "4"]}, {"key": "ctrl+a"}, {"type": "b\n"}, {"key": "ctrl+s"},
                    {"answer": "done"}] and plan_steps(plan) == 7
    with pytest.raises(Unplannable):
        MousepadApp().plan_change(state, {**state, "files": {}})
    files = {"Documents/a.txt": {"text": "1"}, "Documents/b.txt": {"text": "2"}}
    fm = {"files": files, "folders": ["Documents"], "open": ["Documents"], "settings": dict(PCManFMApp.default_settings)}
    renamed = {**fm, "files": {"Documents/c.txt": {"text": "1"}, "Documents/b.txt": {"text": "2"}}}
    assert PCManFMApp().plan_change(fm, renamed)[:2] == [{"click": {"file": "a.txt", "in": "Documents"}}, {"key": "F2"}]
    with pytest.raises(Unplannable):
        PCManFMApp().plan_change(fm, {**fm, "files": {**files, "Documents/new.txt": {"text": "3"}}})
    book = {"sheets": [{"name": "S", "cells": {"A1": 1}}, {"name": "T", "cells": {}}]}
    sheet = {"files": {"b.gnumeric": {"workbook": book}}, "open": ["b.gnumeric"], "settings": {}}
    edited = {**sheet, "files": {"b.gnumeric": {"workbook": {"sheets": [{"name": "S", "cells": {}},
                                                                        {"name": "T", "cells": {"B2": "=1+1"}}]}}}}
    steps = GnumericApp().plan_change(sheet, edited)
    assert {"key": "Delete"} in steps and {"key": "ctrl+Next"} in steps and {"type": "=1+1\n"} in steps


# ---------------------------------------------------------------------- pending GLib-style timers
def _sleeper(poll_ms: int):
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", f"import select, sys; print('up', flush=True); select.poll().poll({poll_ms})"],
                             stdout=subprocess.PIPE)
    assert child.stdout.readline() == b"up\n"
    time.sleep(0.05)  # into the poll
    return child


def test_a_short_poll_timeout_is_a_pending_timer_and_its_wake_up_is_seen():
    import time

    from envgym.envs.desktop.timers import pending_timers, wait_for_timers

    child = _sleeper(400)
    try:
        timers = pending_timers([child.pid])
        assert [timeout for _, timeout in timers.values()] == [400]
        assert pending_timers([child.pid], horizon_ms=0) == {}  # 0: timers are not waited for
        started = time.monotonic()
        assert wait_for_timers(timers, deadline=started + 5)
        assert 0.2 < time.monotonic() - started < 1.0
    finally:
        child.kill()
        child.wait()


def test_an_app_waiting_without_a_timer_or_with_a_distant_one_has_none_pending():
    import time

    from envgym.envs.desktop.timers import pending_timers, wait_for_timers

    child = _sleeper(-1)  # poll without a timeout: nothing is armed
    try:
        assert pending_timers([child.pid], horizon_ms=10**9) == {}
    finally:
        child.kill()
        child.wait()
    child = _sleeper(5000)  # a timer beyond the horizon
    try:
        assert pending_timers([child.pid]) == {}
        timers = pending_timers([child.pid], horizon_ms=10_000)
        assert [timeout for _, timeout in timers.values()] == [5000]
        started = time.monotonic()
        assert not wait_for_timers(timers, deadline=started + 0.3)  # the deadline bounds the wait
        assert time.monotonic() - started < 0.6
    finally:
        child.kill()
        child.wait()


def test_timer_horizon_out_of_range_is_refused_at_construction():
    from envgym.envs.desktop.mousepad import MousepadEnv

    for bad in (-1, 10_001):
        with pytest.raises(ValueError, match="timer_horizon_ms"):
            MousepadEnv(timer_horizon_ms=bad)
