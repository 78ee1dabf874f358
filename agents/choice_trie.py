"""Token tries for constrained decoding: what may come next after a prefix of completion ids.

A trie is a nested dict ``{token id: subtrie}``; the empty dict ``{}`` marks a complete choice.
Subtries may be *shared*: :func:`add_choice` grafts one ``tail`` trie under the end of a prefix, so
the product "one of P prefixes, then one of A actions" costs ``P + A`` sequences to build and store,
not ``P · A`` (the hierarchical choice agent's switch × subgoal × action completions).

No choice may be a proper prefix of another (then the shorter one could never be chosen): choices
end with an end-of-turn id, or with a closing tag whose continuation is the tail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Trie = dict[int, Any]


def add_choice(trie: Trie, ids: list[int], tail: Trie | None = None) -> None:
    """Insert the sequence ``ids`` into ``trie``; its last node becomes ``tail`` (shared, never copied)
    or a complete choice.  Raises ``ValueError`` when one choice would end inside another."""
    if not ids:
        raise ValueError("a choice needs at least one token")
    end: Trie = {} if tail is None else tail
    node = trie
    for token in ids[:-1]:
        child = node.get(int(token))
        if child is None:
            child = node[int(token)] = {}
        elif not child or child is end:  # an earlier choice ends here (or its shared tail starts here)
            raise ValueError("one choice is a prefix of another")
        node = child
    existing = node.get(int(ids[-1]))
    if existing is None:
        node[int(ids[-1])] = end
    elif existing is not end and not (tail is None and not existing):  # a repeated choice is fine
        raise ValueError("one choice is a prefix of another")


def trie_of(choices: Iterable[list[int]], tail: Trie | None = None) -> Trie:
    """The trie of ``choices`` (each followed by ``tail`` when given)."""
    trie: Trie = {}
    for ids in choices:
        add_choice(trie, list(ids), tail)
    return trie


def allowed_ids(node: Trie) -> list[int]:
    """The ids that may come next at ``node`` (sorted)."""
    return sorted(node)


def allowed_along(trie: Trie, completion: list[int]) -> list[list[int]]:
    """For each position of ``completion``, the sorted ids the trie allowed there.  Raises
    ``ValueError`` when ``completion`` leaves the trie or stops before a complete choice."""
    node = trie
    out: list[list[int]] = []
    for token in completion:
        out.append(allowed_ids(node))
        if token not in node:
            raise ValueError(f"completion {completion} is not one of the choices")
        node = node[token]
    if node:
        raise ValueError(f"completion {completion} stops before the end of a choice")
    return out
