from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from videokr.config import Config, ConfigError, dump_config, load_config
from videokr.models import config as mc


def test_paper_constants() -> None:
    assert mc.ELIGIBILITY_MAX_ERROR_RATE == 0.03
    assert mc.AUDIT_SAMPLE_SIZE == 100
    assert mc.DEFAULT_BATCH_DISCOUNT == 0.5
    assert mc.PoolConfig().max_error_rate == 0.03 and mc.PoolConfig().audit_size == 100


def test_default_pool_is_the_papers_seven_models() -> None:
    models = Config().models
    assert [m.display_name for m in models.values()] == [
        "GPT-5.2", "GPT-5-mini", "Claude-4.5-Sonnet", "Gemini-3-Flash", "DeepSeek-V3.2",
        "Qwen3-VL-235B-A22B", "GLM-4.6V",
    ]
    assert all(m.api_key_env and m.api_key_env.endswith("_KEY") for m in models.values())
    assert models["deepseek-v3.2"].modalities == ["text"]
    assert models["qwen3-vl-235b-a22b"].modalities == ["vision"]


def test_config_round_trips_and_old_configs_still_load(tmp_path: Path) -> None:
    text = dump_config(Config())
    assert Config.model_validate(yaml.safe_load(text)) == Config()
    old = tmp_path / "videokr.yaml"
    old.write_text("store: videokr.sqlite\nmodels: {}\n")
    assert load_config(old).models == {}


def test_a_typo_in_a_model_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "videokr.yaml"
    path.write_text("models:\n  mine:\n    base_url: http://x/v1\n    model: m\n    limits: {concurency: 3}\n")
    with pytest.raises(ConfigError, match="models.mine.limits.concurency"):
        load_config(path)


def test_price_and_batch_discount() -> None:
    price = mc.Price(input_per_mtok=2.0, output_per_mtok=10.0)
    assert price.cost(1_000_000, 100_000) == pytest.approx(3.0)
    assert price.cost(1_000_000, 100_000, batch=True) == pytest.approx(1.5)


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    model = mc.ModelConfig(base_url="http://x/v1", model="m", api_key_env="VIDEOKR_TEST_KEY")
    monkeypatch.delenv("VIDEOKR_TEST_KEY", raising=False)
    with pytest.raises(mc.MissingKeyError, match="VIDEOKR_TEST_KEY"):
        model.api_key()
    monkeypatch.setenv("VIDEOKR_TEST_KEY", "sk-abc")
    assert model.api_key() == "sk-abc"
    assert "sk-abc" not in model.model_dump_json()
