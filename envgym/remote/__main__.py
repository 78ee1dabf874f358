"""``python -m envgym.remote serve ENV_ID [options]`` (see :mod:`envgym.remote.cli`)."""

from envgym.remote.cli import main

main()
