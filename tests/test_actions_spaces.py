import numpy as np
import pytest

from envgym import ActionSpace, InvalidAction, ObservationSpace, UnicodeText, parse_action


def test_function_call_string_parsing():
    call = parse_action('fill("12", text="héllo, (world)")')
    assert call.name == "fill" and call.args == ("12",) and call.kwargs == {"text": "héllo, (world)"}
    assert call.is_call and call.argument(0, "bid") == "12" and call.argument(1, "text") == "héllo, (world)"


def test_bare_text_is_not_a_call():
    call = parse_action("  go to fridge 1 ")
    assert call.name == call.text == "go to fridge 1" and not call.is_call


def test_tool_call_forms():
    assert parse_action({"name": "sql", "arguments": {"query": "SELECT 1"}}).kwargs == {"query": "SELECT 1"}
    assert parse_action({"name": "sql", "arguments": '{"query": "SELECT 2"}'}).kwargs == {"query": "SELECT 2"}
    nested = {"type": "function", "function": {"name": "answer", "arguments": '{"text": "42"}'}}
    assert parse_action(nested).kwargs == {"text": "42"}


@pytest.mark.parametrize("bad", ["f(x)", "f(1+)", "f(**k)", "f(lambda: 0)", "f(open('x'))"])
def test_non_literal_arguments_are_rejected(bad):
    with pytest.raises(InvalidAction):
        parse_action(bad)


def test_missing_argument_message():
    with pytest.raises(InvalidAction, match="missing the argument 'text'"):
        parse_action('answer()').argument(0, "text")


def test_to_action_round_trip():
    call = parse_action('click("7")')
    assert parse_action(call.to_action()).kwargs == {"arg0": "7"}
    assert parse_action("north").to_action() == "north"


def test_unicode_text_space():
    space = UnicodeText(max_length=20, min_length=2, seed=0)
    samples = [space.sample() for _ in range(50)]
    assert all(s in space for s in samples)
    assert any(ord(c) > 127 for s in samples for c in s), "samples should exercise non-ASCII text"
    assert "a" not in space and "x" * 21 not in space and 5 not in space


def test_action_space_samples_are_contained_and_reproducible():
    a, b = ActionSpace(tool_names=("sql",), seed=3), ActionSpace(tool_names=("sql",), seed=3)
    xs, ys = [a.sample() for _ in range(20)], [b.sample() for _ in range(20)]
    assert xs == ys and all(x in a for x in xs)
    assert any(isinstance(x, dict) and x["name"] == "sql" for x in xs)


def test_observation_space_validation():
    space = ObservationSpace()
    assert {"text": "hi", "tools": [], "image": b"\x89PNG"} in space
    assert {"image": b""} not in space
    assert {"text": "hi", "admissible_actions": [1]} not in space
    assert {"text": "hi", "messages": [{"role": "user"}]} not in space
    assert np.array([1]) not in space


def test_multiline_string_arguments_are_accepted():
    call = parse_action('sql("SELECT name\nFROM t\nWHERE x = 1")')
    assert call.args == ("SELECT name\nFROM t\nWHERE x = 1",)
    assert parse_action('f(1,\n 2)').args == (1, 2)


def test_function_tool_optional_parameters():
    from envgym import function_tool

    tool = function_tool("scroll", "scroll", {"dy": {"type": "integer"}, "bid": {"type": "string"}}, required=["dy"])
    assert tool["function"]["parameters"]["required"] == ["dy"]
    assert function_tool("a", "b", {"x": {}})["function"]["parameters"]["required"] == ["x"]
