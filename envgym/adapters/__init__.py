"""envgym envs behind other trainers' environment interfaces: TRL's ``environment_factory``
(:mod:`.trl`), skyrl-gym's ``BaseTextEnv`` (:mod:`.skyrl`) and GEM's ``gem.Env`` (:mod:`.gem`).  Each
trainer's package is imported only by its own module."""
