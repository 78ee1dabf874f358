import pytest

import tests.toy_envs  # noqa: F401  (registers test/Count-v0)


@pytest.fixture(scope="module")
def engine():
    """A container engine that answers (started and bootstrapped if needed); on teardown, asserts
    that the module's tests left no container behind."""
    from envgym.containers.engine import docker_client
    from tests.support.containers import assert_no_leftovers, ensure_test_engine

    ensure_test_engine()
    yield docker_client()
    assert_no_leftovers()
