import tests.toy_envs  # noqa: F401  (registers test/Count-v0)
