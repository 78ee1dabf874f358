"""Write the PythonSandbox-v0 task set: ``python -m envgym.envs.python_sandbox.make_tasks [out.jsonl]``.

Each task is an instruction plus a reference program (stdlib only, deterministic).  The golden
answer is the program's printed output (whitespace collapsed), computed here by running it; the
golden actions run the program with ``python(code)`` and submit that answer.  Tests replay them in
the sandbox, so the answers are checked against the container's Python as well.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from envgym import Golden, Task
from envgym.tasks import write_task_file_main
from envgym.envs.python_sandbox.env import ENV_ID, normalise_output

DEFAULT_PATH = Path(__file__).with_name("tasks.jsonl")

# (task_id, difficulty, instruction, reference program)
TASKS: list[tuple[str, str, str, str]] = [
    ("sum-primes-10000", "easy", "What is the sum of all prime numbers below 10000?",
     "n = 10000\nsieve = [True] * n\nsieve[0] = sieve[1] = False\nfor i in range(2, int(n ** 0.5) + 1):\n"
     "    if sieve[i]:\n        sieve[i * i::i] = [False] * len(sieve[i * i::i])\nprint(sum(i for i in range(n) if sieve[i]))"),
    ("fibonacci-90", "easy", "With F(1) = F(2) = 1, what is the Fibonacci number F(90)?",
     "a, b = 1, 1\nfor _ in range(88):\n    a, b = b, a + b\nprint(b)"),
    ("digit-sum-2-pow-1000", "easy", "What is the sum of the decimal digits of 2**1000?",
     "print(sum(int(d) for d in str(2 ** 1000)))"),
    ("reverse-words", "easy",
     "Reverse the order of the words in this sentence and give the result: "
     "'the quick brown fox jumps over the lazy dog'",
     "print(' '.join(reversed('the quick brown fox jumps over the lazy dog'.split())))"),
    ("count-vowels", "easy",
     "How many vowels (a, e, i, o, u, case-insensitive) are in the text "
     "'Reinforcement Learning from Environment Feedback'?",
     "print(sum(c in 'aeiou' for c in 'Reinforcement Learning from Environment Feedback'.lower()))"),
    ("mississippi-permutations", "medium",
     "How many distinct arrangements of the letters of the word MISSISSIPPI are there?",
     "from math import factorial\nfrom collections import Counter\nresult = factorial(11)\n"
     "for count in Counter('MISSISSIPPI').values():\n    result //= factorial(count)\nprint(result)"),
    ("collatz-longest", "medium",
     "Which starting number below 10000 produces the longest Collatz sequence "
     "(n -> n/2 if even, 3n+1 if odd, until 1)?",
     "cache = {1: 1}\ndef length(n):\n    path = []\n    while n not in cache:\n        path.append(n)\n"
     "        n = n // 2 if n % 2 == 0 else 3 * n + 1\n    steps = cache[n]\n    for m in reversed(path):\n"
     "        steps += 1\n        cache[m] = steps\n    return cache[path[0]] if path else steps\n"
     "print(max(range(1, 10000), key=length))"),
    ("lcm-1-to-20", "easy", "What is the smallest positive number divisible by every integer from 1 to 20?",
     "from math import lcm\nfrom functools import reduce\nprint(reduce(lcm, range(1, 21)))"),
    ("longest-palindrome", "medium",
     "What is the longest palindromic substring of 'forgeeksskeegforabacdfgdcaba'?",
     "s = 'forgeeksskeegforabacdfgdcaba'\nbest = ''\nfor i in range(len(s)):\n    for j in range(i, len(s)):\n"
     "        t = s[i:j + 1]\n        if t == t[::-1] and len(t) > len(best):\n            best = t\nprint(best)"),
    ("caesar-decrypt", "easy",
     "The text 'Wkh hqylurqphqw lv uhdgb' was encrypted with a Caesar shift of 3 (a -> d). "
     "What is the plaintext?",
     "text = 'Wkh hqylurqphqw lv uhdgb'\nout = []\nfor c in text:\n    if c.isalpha():\n"
     "        base = ord('A') if c.isupper() else ord('a')\n        out.append(chr((ord(c) - base - 3) % 26 + base))\n"
     "    else:\n        out.append(c)\nprint(''.join(out))"),
    ("hapax-count", "easy",
     "How many distinct words appear exactly once in: 'the cat and the dog and the bird saw a cat'?",
     "from collections import Counter\n"
     "print(sum(1 for c in Counter('the cat and the dog and the bird saw a cat'.split()).values() if c == 1))"),
    ("binary-2024", "easy", "What is 2024 written in binary (digits only, no prefix)?", "print(bin(2024)[2:])"),
    ("sort-names", "easy",
     "Sort the names Zoe, Adam, Bo, Christina, Eve, Al by length, then alphabetically; give them "
     "comma-separated without spaces.",
     "names = ['Zoe', 'Adam', 'Bo', 'Christina', 'Eve', 'Al']\nprint(','.join(sorted(names, key=lambda n: (len(n), n))))"),
    ("run-length", "easy",
     "Run-length encode 'aaabccddddde' as letter followed by count for every run (e.g. 'aab' -> 'a2b1').",
     "from itertools import groupby\nprint(''.join(f'{k}{len(list(g))}' for k, g in groupby('aaabccddddde')))"),
    ("coin-change-100", "medium",
     "In how many ways can you make 100 cents from coins of 1, 5, 10 and 25 cents?",
     "ways = [1] + [0] * 100\nfor coin in (1, 5, 10, 25):\n    for v in range(coin, 101):\n"
     "        ways[v] += ways[v - coin]\nprint(ways[100])"),
    ("prime-1000th", "easy", "What is the 1000th prime number?",
     "primes = []\nn = 1\nwhile len(primes) < 1000:\n    n += 1\n"
     "    if all(n % p for p in primes if p * p <= n):\n        primes.append(n)\nprint(primes[-1])"),
    ("square-difference", "easy",
     "What is the difference between the square of the sum and the sum of the squares of 1..100?",
     "print(sum(range(1, 101)) ** 2 - sum(i * i for i in range(1, 101)))"),
    ("multiples-3-or-5", "easy", "What is the sum of all natural numbers below 1000 that are multiples of 3 or 5?",
     "print(sum(i for i in range(1000) if i % 3 == 0 or i % 5 == 0))"),
    ("roman-1994", "easy", "Write 1994 in Roman numerals.",
     "values = [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), (90, 'XC'), (50, 'L'),\n"
     "          (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')]\nn, out = 1994, ''\n"
     "for value, letters in values:\n    while n >= value:\n        out += letters\n        n -= value\nprint(out)"),
    ("edit-distance", "medium", "What is the Levenshtein edit distance between 'intention' and 'execution'?",
     "a, b = 'intention', 'execution'\nprev = list(range(len(b) + 1))\nfor i, ca in enumerate(a, 1):\n"
     "    cur = [i]\n    for j, cb in enumerate(b, 1):\n"
     "        cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))\n    prev = cur\nprint(prev[-1])"),
    ("anagrams-of-listen", "easy",
     "How many of these words are anagrams of 'listen': enlist, google, inlets, banana, silent, tinsel, listens?",
     "words = 'enlist google inlets banana silent tinsel listens'.split()\n"
     "print(sum(sorted(w) == sorted('listen') for w in words))"),
    ("eight-queens", "medium", "How many ways are there to place 8 non-attacking queens on an 8x8 chessboard?",
     "def solve(row, cols, d1, d2):\n    if row == 8:\n        return 1\n    total = 0\n    for c in range(8):\n"
     "        if c not in cols and row + c not in d1 and row - c not in d2:\n"
     "            total += solve(row + 1, cols | {c}, d1 | {row + c}, d2 | {row - c})\n    return total\n"
     "print(solve(0, frozenset(), frozenset(), frozenset()))"),
    ("weekday-2000-01-01", "easy", "On which day of the week (English name) was 1 January 2000?",
     "import datetime\nprint(datetime.date(2000, 1, 1).strftime('%A'))"),
    ("sha256-prefix", "easy", "What are the first 12 hex characters of the SHA-256 digest of the UTF-8 string 'envgym'?",
     "import hashlib\nprint(hashlib.sha256('envgym'.encode()).hexdigest()[:12])"),
    ("determinant-3x3", "medium", "What is the determinant of the matrix [[2, -3, 1], [2, 0, -1], [1, 4, 5]]?",
     "m = [[2, -3, 1], [2, 0, -1], [1, 4, 5]]\n"
     "det = (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])\n"
     "       - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])\n"
     "       + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))\nprint(det)"),
]


def reference_answer(code: str) -> str:
    """The program's printed output, whitespace collapsed (run with this interpreter, isolated)."""
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return normalise_output(proc.stdout)


def build_tasks() -> list[Task]:
    tasks = []
    for task_id, difficulty, instruction, code in TASKS:
        answer = reference_answer(code)
        tasks.append(Task(
            task_id=task_id,
            env_id=ENV_ID,
            instruction=instruction,
            spec={"difficulty": difficulty},
            golden=Golden(
                actions=[{"name": "python", "arguments": {"code": code}},
                         {"name": "answer", "arguments": {"text": answer}}],
                answer=answer,
            ),
            provenance={"source": "envs/python_sandbox/make_tasks.py"},
        ))
    return tasks


def main(argv: list[str] | None = None) -> None:
    write_task_file_main(build_tasks, DEFAULT_PATH, argv)


if __name__ == "__main__":
    main()
