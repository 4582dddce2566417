"""gymnasium environments: checks, episodes, evaluation, GIFs, videos."""

import importlib.util

import numpy as np
import pytest
from khipu.core import KhipuError, MissingDependencyError, UnknownNameError
from khipu.rl.envs import (
    env_info,
    evaluate_policy,
    make_env,
    record_episode_gif,
    record_video,
    return_stats,
    run_episode,
    save_gif,
)
from PIL import Image


def test_unknown_env_id_is_a_clear_error() -> None:
    with pytest.raises(UnknownNameError, match="CartPole-v9"):
        make_env("CartPole-v9")


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_continuous_action_space_is_refused(env_id: str) -> None:
    with pytest.raises(KhipuError, match="discrete"):
        make_env(env_id)


def test_acrobot_info_and_episode() -> None:
    env = make_env("Acrobot-v1")
    info = env_info(env)
    assert (info.obs_dim, info.num_actions, info.max_episode_steps) == (6, 3, 500)
    total, length, _ = run_episode(env, lambda obs: 0, seed=0)
    assert length == 500 and total == -500.0  # never swings up: truncated at the limit


def test_practical_exercise_2_episode_return() -> None:
    # The practical's linear policy [1, -2, 2, -1] from seed 42 returns 31.
    env = make_env("CartPole-v1")
    params = np.array([1.0, -2.0, 2.0, -1.0])
    total, _, _ = run_episode(env, lambda obs: int(params @ obs > 0), seed=42)
    assert total == 31.0


def test_evaluate_policy_seeds_and_stats() -> None:
    env = make_env("CartPole-v1")
    a = evaluate_policy(env, lambda obs: 0, episodes=5, seed=3)
    b = evaluate_policy(env, lambda obs: 0, episodes=5, seed=3)
    np.testing.assert_array_equal(a, b)
    stats = return_stats(np.array([1.0, 3.0]))
    assert stats == {"mean_return": 2.0, "std_return": 1.0, "min_return": 1.0, "max_return": 3.0}
    with pytest.raises(KhipuError):
        evaluate_policy(env, lambda obs: 0, episodes=0, seed=0)


def test_gif_from_rgb_array_frames(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, total = record_episode_gif(
        "CartPole-v1", lambda obs: int(obs[2] > 0), tmp_path / "ep.gif", seed=0, every=1
    )
    with Image.open(path) as gif:
        assert gif.size == (600, 400)
        # the reset frame plus one per step (pillow merges identical neighbours)
        assert 0.8 * (total + 1) <= gif.n_frames <= total + 1
    frames = [np.full((4, 6, 3), v, np.uint8) for v in (0, 128, 255)]
    with Image.open(save_gif(frames, tmp_path / "small.gif", every=1)) as gif:
        assert gif.n_frames == 3
    with pytest.raises(KhipuError):
        save_gif([], tmp_path / "none.gif")


@pytest.mark.skipif(importlib.util.find_spec("moviepy") is not None, reason="moviepy installed")
def test_record_video_without_moviepy_names_the_extra(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MissingDependencyError, match=r"khipu-rl\[video\]"):
        record_video("CartPole-v1", lambda obs: 0, tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("Box2D") is not None, reason="box2d installed")
def test_lunar_lander_without_box2d_names_the_fix() -> None:
    with pytest.raises(MissingDependencyError, match=r"gymnasium\[box2d\]"):
        make_env("LunarLander-v3")


@pytest.mark.skipif(importlib.util.find_spec("moviepy") is None, reason="needs khipu-rl[video]")
def test_record_video_with_moviepy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    paths = record_video("CartPole-v1", lambda obs: 0, tmp_path / "videos", episodes=1, seed=0)
    assert [p.name for p in paths] == ["rl-video-episode-0.mp4"]
    assert paths[0].stat().st_size > 0
