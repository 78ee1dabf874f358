"""Typed trainer configuration: YAML files plus ``key.sub=value`` command-line overrides.

>>> cfg = load_config("configs/maze_tiny.yaml", ["algo.estimator=gigpo", "mode=async"])   # doctest: +SKIP

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key fails loudly, naming the
key and the keys that exist.  Override values are parsed as YAML scalars (``3`` → int, ``1e-3`` →
float, ``true`` → bool, ``[a, b]`` → list, ``null`` → None).  ``envs.0.workers=8`` indexes lists.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from envgym.trainers.algorithms.estimators import ESTIMATORS


class ConfigError(ValueError):
    """A config file or override is invalid; the message says which key and why."""


class _Section(BaseModel):
    # NaN / inf are rejected everywhere: no float setting has a meaning at infinity
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def _unit(default: float, description: str = "") -> Any:
    """A float in [0, 1] (discounts, λs, probabilities, ratios)."""
    return Field(default, ge=0, le=1, description=description)


class RunConfig(_Section):
    name: str = "run"
    out_dir: str = "runs/run"
    seed: int = 0
    steps: int = Field(100, ge=1, description="training steps (= policy versions published)")
    time_limit_s: float | None = Field(None, gt=0, description="stop training after this much wall time")
    max_env_steps: int | None = Field(None, ge=1, description="stop training once the rollouts took this many env steps")
    torch_threads: int = Field(1, ge=1, description="intra-op threads per torch worker (1 is fastest on small CPUs)")
    checkpoint_every: int = Field(10, ge=0, description="0 = only at the end")
    resume: Literal["auto", "never"] = "auto"
    abort_failure_rate: float = Field(0.5, gt=0, le=1, description="stop when an env's calls fail at this rate over the window (a broken env)")
    abort_window: int = Field(200, ge=10, description="env calls (resets + steps) per env in the failure-rate window")
    no_signal_steps: int = Field(5, ge=1, description="warn (with likely causes) after this many steps in a row without a learning signal")
    progress: bool = True
    tensorboard: bool = True
    plot: bool = True


class LatencyConfig(_Section):
    """Lognormal extra delay per env step (benchmarks / heterogeneity studies)."""

    median_s: float = Field(0.0, ge=0)
    sigma: float = Field(0.0, ge=0)
    reset_s: float = Field(0.0, ge=0)


class TaskSelection(_Section):
    """A named task split of an env (``{split: test}``), optionally its first ``limit`` tasks."""

    split: str
    limit: int | None = Field(None, ge=1)


class EnvConfig(_Section):
    id: str = "envgym/Maze-v0"
    name: str | None = None
    runtime: Literal["local", "remote", "container"] = "local"
    url: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    tasks: list[str] | TaskSelection | None = Field(None, description="task ids, or a split ({split: train}); None = the whole task set")
    task_file: str | None = None
    weight: float = Field(1.0, gt=0)
    workers: int = Field(32, ge=1, description="env instances (concurrent episodes) of this env")
    latency: LatencyConfig | None = None

    @property
    def key(self) -> str:
        return self.name or self.id


class LoraSettings(_Section):
    """LoRA adapters (peft): only the adapter weights train; the rollout backend serves merged weights."""

    r: int = Field(8, ge=1)
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


class WarmStartConfig(_Section):
    """Behaviour cloning on the env's oracle episodes of the training tasks before RL (envgym.trainers.warm_start)."""

    steps: int = Field(0, ge=0, description="behaviour-cloning steps before RL (0 = none)")
    lr: float = Field(5e-4, gt=0, description="Adam learning rate of the cloning steps")
    batch_rows: int = Field(256, ge=1, description="demonstration turns per cloning step")
    seed: int = Field(0, description="seed of the cloning batches (not run.seed: runs that differ in their seed start alike)")
    cache: bool = Field(True, description="keep the cloned weights under ~/.cache/envgym/warm_start, keyed by initial weights, demonstrations and settings")


class PolicyConfig(_Section):
    source: str = Field("tiny", description="tiny | smollm2-135m-instruct | gguf:PATH | a local HF model directory | a hub id")
    lora: LoraSettings | None = None
    tiny: dict[str, Any] = Field(default_factory=lambda: {"hidden_size": 64, "layers": 2, "heads": 4})
    device: str = "cpu"
    dtype: str | None = Field(None, description="float32 on CPU by default; bfloat16 on CUDA")
    gradient_checkpointing: bool = False
    merged_out: str | None = Field(None, description="write the trained model (LoRA merged) here at the end, loadable with from_pretrained")
    warm_start: WarmStartConfig = Field(default_factory=WarmStartConfig)


class AgentConfig(_Section):
    kind: Literal["choice", "llm", "hierarchical", "hierarchical_choice", "click_grid"] = Field(
        "choice", description="choice: constrained among admissible actions; hierarchical_choice: the same for "
        "HiPER's switch/subgoal/action format (envs with admissible_subgoals); llm, hierarchical: free text; "
        "click_grid: a vision-language policy clicking on a grid")
    observation: str = Field("text", description="choice agent: 'text' or a formatter from envgym.agents.observation_formatters")
    click_grid: tuple[int, int] = Field((8, 6), description="click_grid agent (vision-language policies): columns x rows of the click grid")
    system_prompt: str | None = None
    temperature: float = Field(1.0, ge=0)
    max_new_tokens: int = Field(32, ge=1)
    window: int | None = 0
    action_format: str = "auto"


class RolloutConfig(_Section):
    backend: Literal["transformers", "vllm"] = "transformers"
    group_size: int = Field(8, ge=1, description="G: episodes per group (same task, same reset)")
    batch_episodes: int = Field(32, ge=1, description="B: episodes per training step (multiple of G)")
    max_staleness: int = Field(1, ge=0, description="η: how many versions rollouts may run ahead (async)")
    max_batch: int = Field(512, ge=1, description="largest generate() batch")
    max_wait_ms: float | None = Field(
        None, ge=0, description="flush a partial batch after this long; None = wait until every running episode asks (deterministic)"
    )
    vllm: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _batch_multiple(self) -> RolloutConfig:
        if self.batch_episodes % self.group_size:
            raise ValueError(f"batch_episodes ({self.batch_episodes}) must be a multiple of group_size ({self.group_size})")
        return self


class AlgoConfig(_Section):
    estimator: str = Field("gigpo", description="an advantage estimator of envgym.trainers.algorithms.estimators")
    gamma: float = _unit(0.95, "discount γ")
    omega: float = Field(1.0, ge=0, description="GiGPO: weight of the step-level advantage")
    lam: float = _unit(0.95, "GAE λ")
    lam_seg: float = _unit(0.95, "HAE: λ across segments")
    gigpo_episode_stats: Literal["trajectory", "row"] = "trajectory"
    hae_segment_len: int = Field(4, ge=1, description="flat agents without subgoals: a segment every k turns")
    hae_norm_adv: bool = Field(True, description="HAE: whiten A^low, A^H and A^term each over the turns they train (HiPER's norm_adv)")
    gae_whiten: bool = Field(True, description="GAE: whiten the advantages over the batch (verl always does)")

    @field_validator("estimator")
    @classmethod
    def _known_estimator(cls, value: str) -> str:
        if value not in ESTIMATORS:
            raise ValueError(f"unknown estimator {value!r}; known: {', '.join(ESTIMATORS)}")
        return value


class LossConfig(_Section):
    kind: Literal["ppo", "gspo"] = "ppo"
    eps_low: float = Field(0.2, ge=0, lt=1, description="clip range below: ratio ≥ 1 − eps_low")
    eps_high: float = Field(0.2, ge=0, description="clip range above: ratio ≤ 1 + eps_high")
    clip_ratio_c: float | None = Field(None, gt=1, description="dual clip: cap the loss of negative-advantage tokens at −c·A (verl: 3.0); None = off")
    agg: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = Field(
        "token-mean", description="loss aggregation; when not set: seq-mean-token-mean for gspo (as verl), token-mean for ppo")
    kl_coef: float = Field(0.0, ge=0)
    entropy_coef: float = Field(0.0, ge=0)
    objective: Literal["auto", "standard", "decoupled"] = "auto"
    is_level: Literal["token", "sequence"] = "token"
    is_mode: Literal["truncate", "mask"] = "truncate"
    is_cap: float = Field(2.0, gt=0, description="cap C of the truncated importance weight")
    value_coef: float = Field(0.5, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _gspo_aggregates_per_sequence(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "gspo" and "agg" not in data:
            return {**data, "agg": "seq-mean-token-mean"}
        return data


class OptimConfig(_Section):
    lr: float = Field(1e-3, gt=0)
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    lr_final_ratio: float = Field(0.1, ge=0, le=1, description="lr at run.steps = lr · this (linear/cosine)")
    schedule_steps: int | None = Field(None, ge=1, description="length of the decay; default run.steps")
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    epochs: int = Field(1, ge=1)
    minibatches: int = Field(1, ge=1)

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in value):
            raise ValueError(f"Adam betas must lie in [0, 1), got {list(value)}")
        return value


class StepJudgeConfig(_Section):
    """Drop turns a step judge grades below ``threshold`` (envgym.trainers.step_judge)."""

    kind: Literal["none", "env", "llm"] = Field("none", description="env: the env's info['step_grade']; llm: an LLM over an OpenAI-compatible endpoint")
    threshold: float = _unit(0.5, "keep turns graded at least this")
    keep_ungraded: bool = Field(True, description="keep turns the judge did not grade (no env grade, an LLM call that failed)")
    base_url: str | None = Field(None, description="llm: the endpoint, e.g. http://127.0.0.1:8000/v1")
    model: str | None = Field(None, description="llm: the model name the endpoint serves")
    api_key_env: str | None = Field(None, description="llm: name of the environment variable holding the API key")
    max_concurrency: int = Field(16, ge=1, description="llm: requests in flight")
    timeout_s: float = Field(60.0, gt=0, description="llm: per request")

    @model_validator(mode="after")
    def _llm_needs_an_endpoint(self) -> StepJudgeConfig:
        if self.kind == "llm" and not (self.base_url and self.model):
            raise ValueError("step_judge.kind=llm needs base_url and model")
        return self


class DataConfig(_Section):
    drop_uniform_groups: bool = True
    max_resamples: int = Field(2, ge=0, description="resamples of an all-equal group before it is accepted anyway")
    replay_successes: bool = True
    replay_weight: Literal["one", "importance"] = "one"
    success_bank_size: int = Field(4, ge=1)
    seed_with_oracle: bool = False
    adaptive_tasks: bool = True
    min_task_weight: float = Field(0.1, gt=0, le=1)
    step_filter_rho: float = Field(1.0, gt=0, le=1, description="entropy step filter: train on the top-ρ turns by mean token entropy (1 = off)")
    step_judge: StepJudgeConfig = Field(default_factory=StepJudgeConfig)
    fsync: bool = Field(True, description="fsync every stored episode (power-loss safe); whole-line appends are SIGKILL-safe without it")
    store_observations: Literal["full", "text", "none"] = Field("text", description="what of each observation the store keeps")

    @model_validator(mode="after")
    def _llm_judge_reads_observations(self) -> DataConfig:
        if self.step_judge.kind == "llm" and self.store_observations == "none":
            raise ValueError("step_judge.kind=llm reads what the agent saw: set store_observations to text or full")
        return self


class EvalConfig(_Section):
    episodes_per_task: int = Field(8, ge=0)
    temperature: float = Field(1.0, ge=0)
    tasks: TaskSelection | list[str] | None = Field(None, description="held-out tasks of every env, e.g. {split: test}")
    train_tasks: int | None = Field(None, ge=1, description="evaluate on the first k training tasks (None = all)")
    every: int = Field(0, ge=0, description="evaluate every k steps (0 = before and after only)")


class ActorPlacement(_Section):
    """Resources one Ray actor asks for (``cluster.backend: ray``); Ray places it on a node that has them."""

    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float | None = Field(None, ge=0, description="None: 1 for the learner / rollout when policy.device is cuda, else 0")
    resources: dict[str, float] = Field(default_factory=dict, description="custom node resources, e.g. {browser: 1}")


class EnvActorPlacement(ActorPlacement):
    """An env actor runs ``envs_per_actor`` envs; ``env`` names the env config (name or id) it is for."""

    env: str | None = None
    envs_per_actor: int = Field(8, ge=1)


class ClusterConfig(_Section):
    """Where the trainer's parts run: one process (``local``) or Ray actors (``ray``, see docs/scaling.md)."""

    backend: Literal["local", "ray"] = "local"
    address: str = Field("auto", description="auto (RAY_ADDRESS or this machine's cluster), local (a private Ray), host:port, ray://host:port")
    namespace: str = "envgym"
    env_actors: EnvActorPlacement = Field(default_factory=EnvActorPlacement)
    env_overrides: list[EnvActorPlacement] = Field(default_factory=list, description="per env: [{env: KEY, resources: {browser: 1}}]")
    learner: ActorPlacement = Field(default_factory=ActorPlacement)
    rollout: ActorPlacement = Field(default_factory=ActorPlacement)
    max_env_restarts: int = Field(16, ge=0, description="replacement env actors per env over the run (dead actors, lost nodes)")
    rebalance_s: float = Field(5.0, gt=0, description="how often nodes are checked; a node that joined receives env actors")
    actor_start_timeout_s: float = Field(180.0, gt=0, description="a moved env actor not running by then goes back")
    weight_sync: Literal["object_store", "nccl"] = Field("object_store", description="nccl: GPU broadcast learner -> rollout (unverified)")


class TrainConfig(_Section):
    run: RunConfig = Field(default_factory=RunConfig)
    mode: Literal["sync", "async"] = "sync"
    envs: list[EnvConfig] = Field(default_factory=lambda: [EnvConfig()])
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    algo: AlgoConfig = Field(default_factory=AlgoConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    @property
    def staleness(self) -> int:
        """η used by admission: 0 in sync mode (lockstep), ``rollout.max_staleness`` in async mode."""
        return 0 if self.mode == "sync" else self.rollout.max_staleness


# ---------------------------------------------------------------------- loading


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` → ``(["a", "b", "c"], parsed value)``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not of the form key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: cannot parse value: {exc}") from None
    return key.split("."), value


def apply_override(data: dict[str, Any], path: list[str], value: Any, original: str) -> None:
    """Set ``data[path...] = value``, checking each key against the schema as it goes."""
    model: Any = TrainConfig
    node: Any = data
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"override {original!r}: index {key!r} out of range (list has {len(node)} items)")
            idx = int(key)
            if last:
                node[idx] = value
                return
            node = node[idx]
            continue
        fields = _fields_of(model)
        if fields is not None and key not in fields:
            where = ".".join(path[:depth]) or "top level"
            raise ConfigError(
                f"override {original!r}: unknown key {key!r} at {where}; valid keys: {', '.join(sorted(fields))}"
            )
        if last:
            node[key] = value
            return
        child = node.get(key)
        if child is None:
            child = {}
            node[key] = child
        node = child
        model = _child_model(fields[key]) if fields is not None else None


def _fields_of(model: Any) -> dict[str, Any] | None:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return dict(model.model_fields)
    return None


def _child_model(field: Any) -> Any:
    annotation = field.annotation
    args = getattr(annotation, "__args__", ()) or ()
    for candidate in (annotation, *args):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        inner = getattr(candidate, "__args__", ()) or ()
        for sub in inner:  # list[EnvConfig]
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                return sub
    return None


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read ``path`` (YAML; None = all defaults), apply ``overrides`` and validate."""
    data: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        data = copy.deepcopy(loaded or {})
    if "envs" not in data:
        data["envs"] = [EnvConfig().model_dump()]
    for text in overrides or []:
        keys, value = parse_override(text)
        apply_override(data, keys, value, text)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            got = f" (got {err['input']!r})" if not isinstance(err.get("input"), dict) else ""
            lines.append(f"  {loc}: {err['msg']}{got}")
        source = str(path) if path else "config"
        raise ConfigError(f"{source}: invalid configuration:\n" + "\n".join(lines)) from None


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
