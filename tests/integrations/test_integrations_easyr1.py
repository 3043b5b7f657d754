"""The EasyR1 drop-in (issue 13): the attributes EasyR1 reads, the launch overrides it parses, the
script the verl export writes, and (when an EasyR1 checkout is given) EasyR1's own config classes and
reward manager, directly and under Ray, with our file configured by ``reward_function_kwargs`` alone."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medix_r1.integrations import easyr1
from medix_r1.integrations.engine_config import CONFIG_ENV
from medix_r1.rewards.config import RewardConfig

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def test_the_file_declares_what_easyr1_reads() -> None:
    # EasyR1: reward_type = getattr(module, "REWARD_TYPE", "batch"); reward_name likewise.
    assert easyr1.REWARD_TYPE == "batch"
    assert easyr1.REWARD_NAME == "medix-r1"
    assert easyr1.reward_file() == str(Path(easyr1.__file__).resolve())


def test_launch_overrides_pass_settings_as_kwargs() -> None:
    settings = RewardConfig(
        judge_url="http://judge:8085/v1",
        embedding_model="abhinand/MedEmbed-large-v0.1",
        judge_deadline_s=90,
        judge_cache=Path("/shared/verdicts cache.sqlite"),
        on_judge_error="skip",
        judge_disable_thinking=False,
    )
    lines = easyr1.launch_overrides(settings, reward_path="/site/medix_r1/integrations/easyr1.py")
    assert lines == [
        "worker.reward.reward_function=/site/medix_r1/integrations/easyr1.py:compute_score",
        "worker.reward.reward_function_kwargs.judge_url=http://judge:8085/v1",
        "worker.reward.reward_function_kwargs.judge_deadline_s=90.0",
        "worker.reward.reward_function_kwargs.judge_cache=/shared/verdicts cache.sqlite",
        "worker.reward.reward_function_kwargs.judge_disable_thinking=false",
        "worker.reward.reward_function_kwargs.embedding_model=abhinand/MedEmbed-large-v0.1",
        "worker.reward.reward_function_kwargs.on_judge_error=skip",
    ]
    # OmegaConf.from_cli reads each value as YAML: every setting comes back as the same config.
    kwargs = {}
    for line in lines[1:]:
        key, value = line.split("=", 1)
        kwargs[key.rsplit(".", 1)[1]] = yaml.safe_load(value)
    assert RewardConfig(**kwargs) == settings


@pytest.mark.parametrize("value", ["123", "true", "null", "a: b", "[x]", "${oops}", "  padded"])
def test_string_values_that_yaml_would_change_are_quoted(value: str) -> None:
    [_, line] = easyr1.launch_overrides({"judge_model": value}, reward_path="/x.py")
    assert yaml.safe_load(line.split("=", 1)[1]) == value
    if value == "${oops}":  # an OmegaConf interpolation would be resolved, so it is quoted
        assert line.endswith('"${oops}"')


def test_unknown_setting_fails_before_the_cluster() -> None:
    with pytest.raises(ValueError, match="unknown reward setting 'judge_ur'; did you mean 'judge_url'"):
        easyr1.launch_overrides({"judge_ur": "http://x/v1"})


def test_drop_in_script_sources_to_the_same_overrides(tmp_path: Path) -> None:
    settings = RewardConfig(judge_url="http://judge:8085/v1", judge_cache=Path("/a b/c.sqlite"))
    script = tmp_path / "easyr1_reward.sh"
    script.write_text(easyr1.drop_in_script(settings, tmp_path / "reward.yaml"))
    # python3 stands in for the node's interpreter that prints our file's path.
    shell = f'python3() {{ echo /node/easyr1.py; }}; source {script}; printf "%s\\n" "${{MEDIX_REWARD_OVERRIDES[@]}}"'
    printed = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True).stdout
    assert printed.splitlines() == easyr1.launch_overrides(settings, reward_path="/node/easyr1.py")
    text = script.read_text()
    assert f'MEDIX_R1_REWARD_CONFIG: "{tmp_path / "reward.yaml"}"' in text  # the runtime_env fallback line
    assert "reward_type" not in text


def test_kwargs_alone_configure_the_reward() -> None:
    # As EasyR1 calls it: partial(compute_score, **reward_function_kwargs)(reward_inputs).
    assert os.environ.get(CONFIG_ENV) is None
    inputs = [
        {"response": "<X_RAY><thinking>f</thinking><answer>left lung</answer>", "response_length": 9,
         "ground_truth": "<X_RAY> Left lung."},
        {"response": "<CT_SCAN><thinking>f</thinking><answer>femur</answer>", "response_length": 9,
         "ground_truth": "<X_RAY> left lung"},
    ]  # fmt: skip
    rows = easyr1.compute_score(inputs, judge="fake", embedding_model="hashing", judge_deadline_s=5)
    assert [r["overall"] for r in rows] == [1.0, pytest.approx(0.1)]
    assert [r["unscored"] for r in rows] == [0.0, 0.0]


def test_missing_settings_say_how_to_pass_them() -> None:
    # Under Ray on a cluster the variable is absent and the default judge needs a URL: the error
    # names the cause and the fix, and it pickles (pydantic's ValidationError would not reach the driver).
    inputs = [
        {"response": "<X_RAY><thinking>f</thinking><answer>lung</answer>", "ground_truth": "<X_RAY> lung"}
    ]
    with pytest.raises(easyr1.EasyR1SettingsError) as info:
        easyr1.compute_score(inputs)
    message = str(info.value)
    assert message.startswith("medix-r1 reward settings: ")
    assert "judge 'openai' needs judge_url" in message
    assert "MEDIX_R1_REWARD_CONFIG is not set in this worker" in message
    assert "worker.reward.reward_function_kwargs.<field>=<value>" in message
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is easyr1.EasyR1SettingsError and str(copy) == message


EASYR1_SRC = os.environ.get("MEDIX_R1_EASYR1_SRC")
EASYR1_PYTHON = os.environ.get("MEDIX_R1_EASYR1_PYTHON")


@pytest.mark.slow
@pytest.mark.skipif(
    not (EASYR1_SRC and EASYR1_PYTHON),
    reason="EasyR1 is not on the package index: set MEDIX_R1_EASYR1_SRC (a checkout) and "
    "MEDIX_R1_EASYR1_PYTHON (a Python with its requirements and medix-r1)",
)
def test_easyr1_own_manager_and_config_classes() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop(CONFIG_ENV, None)
    done = subprocess.run(
        [EASYR1_PYTHON, str(HERE / "easyr1_driver.py")],
        cwd=EASYR1_SRC,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("EASYR1-RESULT ")), None)
    assert line is not None, done.stdout[-3000:] + done.stderr[-3000:]
    out = json.loads(line.split(" ", 1)[1])
    assert out["reward_type_override"] == "ConfigKeyError: Key 'reward_type' not in 'RewardConfig'"
    assert out["parsed"]["reward_function"] == easyr1.reward_file()
    assert out["parsed"]["reward_function_name"] == "compute_score"
    assert out["parsed"]["reward_function_kwargs"] == {
        "judge": "fake",
        "judge_deadline_s": 30.0,
        "embedding_model": "hashing",
    }
    assert out["reward_type"] == "batch"
    # The manager's metrics are our rows; its token rewards our overall, in and out of Ray.
    spec = importlib.util.spec_from_file_location("easyr1_driver", HERE / "easyr1_driver.py")
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)  # stdlib imports only; EasyR1 is imported when it runs
    inputs = [{"response": r, "ground_truth": g} for r, g in driver.CASES]
    expected = easyr1.compute_score(inputs, judge="fake", embedding_model="hashing")
    assert out["metrics"] == {k: [row[k] for row in expected] for k in expected[0]}
    assert out["token_rewards"] == pytest.approx([row["overall"] for row in expected], abs=1e-6)
    assert out["ray_token_rewards"] == out["token_rewards"]
    # The hashing embedder puts "the left lung" below 0.8 of "left lung": 0.9 - 0.9 * 0.375.
    assert out["metrics"]["overall"] == pytest.approx([1.0, 0.6625, 0.1, 0.145, 0.5175, 0.9])
    assert out["judge_down"]["raised"] == "RayTaskError(JudgeUnavailableError)"
    assert out["judge_down"]["cause"] == "JudgeUnavailableError"
    assert out["judge_down"]["endpoint"] == "http://127.0.0.1:9/v1/chat/completions"
    assert out["judge_down"]["message"].startswith(
        "judge at http://127.0.0.1:9/v1/chat/completions failed after 1 attempt(s): connection error"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
