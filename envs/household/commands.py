"""ALFWorld commands: parsing, execution and the list of admissible commands.

==================================== ============================================================
command                              effect (the agent must stand at the receptacle it names)
==================================== ============================================================
``go to RECEP``                      walk to a receptacle (any receptacle in the house)
``open RECEP`` / ``close RECEP``     open or close a fridge, microwave, cabinet or drawer
``take OBJ from RECEP``              pick up an object (hands must be empty; one object at a time)
``put OBJ in/on RECEP``              put the held object down (``in``, ``on``, ``move OBJ to RECEP``)
``clean OBJ with sinkbasin N``       the held object becomes clean
``heat OBJ with microwave N``        the held object becomes hot (and no longer cool)
``cool OBJ with fridge N``           the held object becomes cool (and no longer hot)
``use desklamp 1``                   switch the desk lamp on or off
``examine X``                        describe a receptacle here, the held object or one in sight
``inventory`` / ``look``             what you carry / where you are
==================================== ============================================================

Names are case-insensitive; articles are ignored; ``apple1`` means ``apple 1``; a bare kind
(``fridge``) means its only instance.  Commands that cannot be carried out raise
:class:`InvalidAction` with ``Nothing happens: <reason>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from envgym import InvalidAction

from envgym.envs.household.catalog import TOOL_FOR_STATE, VERB_FOR_STATE
from envgym.envs.household.world import HELD, Item, World

STATE_FOR_VERB = {verb: state for state, verb in VERB_FOR_STATE.items()}

#: (verb, pattern) in match order; named groups are the arguments.
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (verb, re.compile(pattern))
    for verb, pattern in [
        ("go", r"(?:go to|goto|go|walk to|move to) (?P<target>.+)"),
        ("open", r"open (?P<target>.+)"),
        ("close", r"close (?P<target>.+)"),
        ("take", r"(?:take|pick up|pick|get|grab) (?P<obj>.+?)(?: (?:from|off|out of) (?P<recep>.+))?"),
        ("put", r"(?:put|place|move|drop) (?P<obj>.+?) (?:in/on|in|on|into|onto|to) (?P<recep>.+)"),
        ("clean", r"(?:clean|wash|rinse) (?P<obj>.+?) (?:with|in|using|at) (?P<recep>.+)"),
        ("heat", r"(?:heat|warm) (?P<obj>.+?) (?:with|in|using|at) (?P<recep>.+)"),
        ("cool", r"(?:cool|chill) (?P<obj>.+?) (?:with|in|using|at) (?P<recep>.+)"),
        ("use", r"(?:use|toggle|turn on|turn off|switch on|switch off) (?P<target>.+)"),
        ("examine", r"(?:examine|look at|inspect|check) (?P<target>.+)"),
        ("inventory", r"(?:inventory|inv|i)"),
        ("look", r"(?:look|look around|l)"),
    ]
]
COMMAND_HELP = (
    "Commands: go to RECEP, open RECEP, close RECEP, take OBJ from RECEP, put OBJ in/on RECEP, "
    "clean OBJ with sinkbasin N, heat OBJ with microwave N, cool OBJ with fridge N, use desklamp N, "
    "examine X, inventory, look."
)
_ARTICLES = {"a", "an", "the", "some"}


def normalize(text: str) -> str:
    """Lower-case, single spaces, no articles or final punctuation, ``apple1`` -> ``apple 1``."""
    text = re.sub(r"([a-z])(\d)", r"\1 \2", text.lower().strip().rstrip(".!?"))
    return " ".join(word for word in text.split() if word not in _ARTICLES)


def parse(text: str) -> tuple[str, dict[str, str]]:
    """``(verb, arguments)`` of a command, or :class:`InvalidAction` naming the valid commands."""
    command = normalize(text)
    for verb, pattern in PATTERNS:
        match = pattern.fullmatch(command)
        if match:
            return verb, {k: v for k, v in match.groupdict().items() if v}
    shown = text if len(text) <= 60 else text[:60] + "..."
    raise InvalidAction(f"Nothing happens: {shown!r} is not a command I know. {COMMAND_HELP}")


def execute(world: World, text: str) -> str:
    """Carry out a command on ``world`` (in place) and return its feedback."""
    verb, args = parse(text)
    return HANDLERS[verb](world, args)


# ---------------------------------------------------------------------- name resolution
def _fail(reason: str) -> InvalidAction:
    return InvalidAction(f"Nothing happens: {reason}")


def _receptacle(world: World, name: str) -> str:
    if name in world.receptacles:
        return name
    same_kind = [r.name for r in world.receptacles.values() if r.kind == name]
    if len(same_kind) == 1:
        return same_kind[0]
    if same_kind:
        raise _fail(f"which {name}? There are {', '.join(same_kind)}.")
    raise _fail(f"there is no receptacle called {_short(name)!r} in this house.")


def _at(world: World, receptacle: str) -> None:
    if world.agent_location != receptacle:
        raise _fail(f"you are not at the {receptacle}. Go to it first.")


def _reachable(world: World, receptacle: str) -> None:
    if not world.receptacles[receptacle].is_open:
        raise _fail(f"the {receptacle} is closed.")


def _held(world: World, name: str) -> Item:
    held = world.holding
    if held is None:
        raise _fail("you are not carrying anything.")
    if name not in (held.name, held.kind):
        raise _fail(f"you are not carrying {_short(name)!r}; you are carrying the {held.name}.")
    return held


def _visible(world: World, name: str) -> Item:
    seen = world.visible_items()
    exact = [item for item in seen if item.name == name] or [item for item in seen if item.kind == name]
    if len(exact) == 1:
        return exact[0]
    if exact:
        raise _fail(f"which {name}? You see {', '.join(item.name for item in exact)}.")
    if name == world.lamp.name and world.agent_location == world.lamp.location:
        raise _fail(f"the {world.lamp.name} cannot be picked up.")
    raise _fail(f"you do not see {_short(name)!r} here.")


def _short(name: str) -> str:
    return name if len(name) <= 40 else name[:40] + "..."


# ---------------------------------------------------------------------- handlers
def _go(world: World, args: dict[str, str]) -> str:
    target = args["target"]
    if target in (world.lamp.name, world.lamp.name.split()[0]):
        target = world.lamp.location
    recep = _receptacle(world, target)
    if world.agent_location == recep:
        raise _fail(f"you are already at the {recep}.")
    world.agent_location = recep
    return f"You arrive at {recep}."


def _open_or_close(opening: bool) -> Callable[[World, dict[str, str]], str]:
    def handler(world: World, args: dict[str, str]) -> str:
        recep = _receptacle(world, args["target"])
        _at(world, recep)
        if not world.receptacles[recep].openable:
            raise _fail(f"the {recep} cannot be opened or closed.")
        if world.receptacles[recep].is_open == opening:
            raise _fail(f"the {recep} is already {'open' if opening else 'closed'}.")
        world.receptacles[recep].is_open = opening
        return f"You {'open' if opening else 'close'} the {recep}."

    return handler


def _take(world: World, args: dict[str, str]) -> str:
    here = world.agent_location
    if here is None:
        raise _fail("there is nothing within reach in the middle of the house. Go to a receptacle first.")
    recep = _receptacle(world, args["recep"]) if "recep" in args else here
    _at(world, recep)
    held = world.holding
    if held is not None:
        raise _fail(f"you are already carrying the {held.name}. Put it somewhere first.")
    _reachable(world, recep)
    item = _visible(world, args["obj"])
    item.location = HELD
    return f"You pick up the {item.name} from the {recep}."


def _put(world: World, args: dict[str, str]) -> str:
    item = _held(world, args["obj"])
    recep = _receptacle(world, args["recep"])
    _at(world, recep)
    _reachable(world, recep)
    item.location = recep
    return f"You put the {item.name} in/on the {recep}."


def _change_state(verb: str) -> Callable[[World, dict[str, str]], str]:
    state = STATE_FOR_VERB[verb]
    tool = TOOL_FOR_STATE[state]

    def handler(world: World, args: dict[str, str]) -> str:
        item = _held(world, args["obj"])
        recep = _receptacle(world, args["recep"])
        if world.receptacles[recep].kind != tool:
            raise _fail(f"you can only {verb} things with a {tool}, not with the {recep}.")
        _at(world, recep)
        if not world.can_change(item, state):
            raise _fail(f"the {item.name} cannot be {'cleaned' if verb == 'clean' else verb + 'ed'}.")
        setattr(item, state, True)
        if state in ("hot", "cool"):
            setattr(item, "cool" if state == "hot" else "hot", False)
        return f"You {verb} the {item.name} using the {recep}."

    return handler


def _use(world: World, args: dict[str, str]) -> str:
    lamp = world.lamp
    if args["target"] not in (lamp.name, lamp.name.split()[0]):
        raise _fail(f"{_short(args['target'])!r} is not something you can use. Only the {lamp.name} can be used.")
    _at(world, lamp.location)
    lamp.on = not lamp.on
    return f"You turn {'on' if lamp.on else 'off'} the {lamp.name}."


def _examine(world: World, args: dict[str, str]) -> str:
    target = args["target"]
    held = world.holding
    if held is not None and target in (held.name, held.kind):
        return _describe_item(held)
    if target in (world.lamp.name, world.lamp.name.split()[0]) and world.agent_location == world.lamp.location:
        return f"The {world.lamp.name} is {'on' if world.lamp.on else 'off'}."
    if target in world.receptacles or any(r.kind == target for r in world.receptacles.values()):
        recep = _receptacle(world, target)
        _at(world, recep)
        return world.describe_location()
    return _describe_item(_visible(world, target))


def _describe_item(item: Item) -> str:
    if item.describe() == item.name:
        return f"There's nothing special about the {item.name}."
    return f"This is a {item.describe()}."


def _inventory(world: World, args: dict[str, str]) -> str:
    held = world.holding
    return f"You are carrying: a {held.describe()}." if held else "You are not carrying anything."


def _look(world: World, args: dict[str, str]) -> str:
    return ""  # the observation always describes the agent's surroundings


HANDLERS: dict[str, Callable[[World, dict[str, str]], str]] = {
    "go": _go,
    "open": _open_or_close(True),
    "close": _open_or_close(False),
    "take": _take,
    "put": _put,
    "clean": _change_state("clean"),
    "heat": _change_state("heat"),
    "cool": _change_state("cool"),
    "use": _use,
    "examine": _examine,
    "inventory": _inventory,
    "look": _look,
}


# ---------------------------------------------------------------------- admissible commands
def admissible(world: World) -> list[str]:
    """Every command that succeeds in this state, in canonical ALFWorld form."""
    here = world.agent_location
    commands: list[str] = []
    held = world.holding
    if here is not None:
        recep = world.receptacles[here]
        if recep.openable:
            commands.append(f"{'close' if recep.is_open else 'open'} {here}")
        if recep.is_open:
            if held is None:
                commands += [f"take {item.name} from {here}" for item in world.contents(here)]
            else:
                commands.append(f"put {held.name} in/on {here}")
        if held is not None:
            for state, tool in TOOL_FOR_STATE.items():
                if recep.kind == tool and world.can_change(held, state):
                    commands.append(f"{VERB_FOR_STATE[state]} {held.name} with {here}")
        if world.lamp.location == here:
            commands.append(f"use {world.lamp.name}")
        commands.append(f"examine {here}")
    if held is not None:
        commands.append(f"examine {held.name}")
    commands += [f"go to {name}" for name in world.receptacles if name != here]
    commands += ["inventory", "look"]
    return commands
