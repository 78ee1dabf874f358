"""``envgym.adapters.trl.environment_class`` with TRL's own ``GRPOTrainer`` (two steps, CPU, a tiny
from-config Qwen2 with a locally built tokenizer carrying TRL's Qwen2.5 chat template)."""

from __future__ import annotations

import pickle

import pytest
import torch

from envgym.adapters.trl import environment_class

MOVE_CALL = '<tool_call>\n{"name": "move", "arguments": {"direction": "east"}}\n</tool_call><|im_end|>'


def test_class_exposes_typed_tools_and_pickles():
    from transformers.utils import get_json_schema

    cls = environment_class("envgym/SQL-v0")
    env = cls()
    assert "Question:" in env.reset(task="sql-supplier-customers", prompt=[{"role": "user", "content": "x"}])
    schema = get_json_schema(env.describe)["function"]
    assert schema["parameters"]["required"] == ["table"] and "orders" in schema["parameters"]["properties"]["table"]["enum"]
    assert "145" in env.sql(query="SELECT COUNT(DISTINCT o.customer_id) FROM orders o JOIN order_items oi ON "
                                  "oi.order_id = o.order_id JOIN products p ON p.product_id = oi.product_id JOIN "
                                  "suppliers s ON s.supplier_id = p.supplier_id WHERE s.name = 'Hooli Imports'")
    assert "episode is over" in env.answer(text="145").lower() and env.get_reward() == 1.0
    assert "episode is over" in env.answer(text="146")  # no step after the end
    assert pickle.loads(pickle.dumps(cls)) is cls
    copy = pickle.loads(pickle.dumps(env))
    assert type(copy) is cls and "Question:" in copy.reset(task="sql-supplier-customers")
    with pytest.raises(TypeError):
        env.sql()  # the query is required, as the schema says


def tiny_tool_calling_policy(tmp_path, env_cls, seeds):
    """A tiny Qwen2 whose tokenizer has TRL's Qwen2.5 template, fitted for a few steps to answer a
    maze prompt with a ``move`` tool call (so the rollouts exercise the tool loop)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl.chat_template_utils import qwen2_5_chat_template

    from envgym.agents.tiny_policy import build_tokenizer, envgym_corpus

    tokenizer = build_tokenizer(envgym_corpus(800) + [MOVE_CALL] * 20, vocab_size=600)
    tokenizer.chat_template = qwen2_5_chat_template
    tokenizer.padding_side = "left"
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=4096, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    target = tokenizer(MOVE_CALL, add_special_tokens=False)["input_ids"]
    examples = []
    for seed in seeds:
        env = env_cls()
        prompt = [{"role": "user", "content": "Solve the maze." + env.reset(seed=seed)}]
        text = tokenizer.apply_chat_template(prompt, tools=[env.move], add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        examples.append((torch.tensor([ids + target]), len(ids)))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(400):
        ids, start = examples[step % len(examples)]
        labels = ids.clone()
        labels[:, :start] = -100
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.01:
            break
    assert loss.item() < 0.01, loss.item()
    return model, tokenizer


@pytest.mark.slow
@pytest.mark.timeout(900)  # about a minute of CPU; a shared machine stretches it
def test_grpo_trainer_trains_two_steps_on_maze(tmp_path, monkeypatch):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    maze = environment_class("envgym/Maze-v0", step_penalty=0.1, width=3, height=3)  # moves cost: returns differ
    seeds = [0, 1, 2, 3]
    model, tokenizer = tiny_tool_calling_policy(tmp_path, maze, seeds)
    dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": "Solve the maze."}]] * 4, "seed": seeds})
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"), max_steps=2, per_device_train_batch_size=2, num_generations=2,
        max_completion_length=96, learning_rate=1e-4, logging_steps=1, report_to="none", save_strategy="no",
        use_cpu=True, bf16=False, beta=0.0, max_tool_calling_iterations=3, temperature=1.0, seed=0,
    )
    trainer = GRPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                          environment_factory=maze)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2
    assert all(entry["tools/call_frequency"] > 0 for entry in logs)  # the model's tool calls reached the env
    reward_key = f"rewards/{maze.__name__}/mean"
    assert all(reward_key in entry and entry[reward_key] < 0 for entry in logs)  # returns came from get_reward
    assert any(entry["reward_std"] > 0 for entry in logs)
    assert any(not torch.equal(before[name], p) for name, p in model.named_parameters())
    envs = trainer._environment_pool[None]
    assert sum(env._env.unwrapped.turn for env in envs if env._env is not None) > 0  # tools stepped the mazes
