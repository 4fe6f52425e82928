"""Maze: the double-T test tasks, generated train mazes, rules, expert and checker."""

from __future__ import annotations

import random

import pytest

import agentgym
from agentgym.core.checker import run_expert_episode
from agentgym.core.errors import EpisodeOver, UnknownTask
from agentgym.core.react import parse_reply
from agentgym.core.seeding import derive_seed
from agentgym.envs.maze import tasks
from agentgym.envs.maze.env import MazeEnv, parse_move


@pytest.fixture()
def env() -> MazeEnv:
    return agentgym.make("maze")


def test_double_t_layout_and_test_split() -> None:
    grid = tasks.DOUBLE_T
    assert (len(grid), len(grid[0])) == (10, 13)
    assert all(len(row) == 13 for row in grid)
    assert grid[8][6] == "." and tasks.DOUBLE_T_GOAL == (8, 6)
    # borders are walls; 25 free cells, the 25 starts are exactly the free cells but the goal
    assert set(grid[0]) == {"#"} and set(grid[-1]) == {"#"}
    free = {(r, c) for r, row in enumerate(grid) for c, ch in enumerate(row) if ch == "."}
    assert len(tasks.DOUBLE_T_STARTS) == 25 and len(set(tasks.DOUBLE_T_STARTS)) == 25
    assert set(tasks.DOUBLE_T_STARTS) == free - {tasks.DOUBLE_T_GOAL}
    spec = MazeEnv.spec
    assert spec.split("test") == list(range(25))
    assert not set(spec.split("train")) & set(spec.split("test"))
    assert len(spec.split("train")) >= 1000
    assert spec.max_rounds == 15 and spec.action_format == "react_first" and spec.metric == "success"
    assert spec.ack.startswith("OK. I'll follow your instructions")


def test_test_task_ids_are_the_original_game_indices(env: MazeEnv) -> None:
    for game, start in enumerate(tasks.DOUBLE_T_STARTS):
        obs = env.reset(game)
        assert f"You are at ({start[0]}, {start[1]})" in obs.text
        assert "The goal is at (8, 6)" in obs.text
        assert obs.info["position"] == list(start)


def test_observation_describes_walls(env: MazeEnv) -> None:
    text = env.reset(0).text  # (1, 1): open only to the right
    assert "walls above you, below you and to your left" in text
    assert "you can move right" in text
    text = env.reset(2).text  # (1, 3): open left, right and down
    assert "There is a wall above you" in text and "you can move down, left or right" in text
    env.reset(16)  # (5, 6): a junction with walls only above
    assert env.walls() == {"up": True, "down": False, "left": False, "right": False}


def test_parse_move_is_tolerant_but_strict() -> None:
    assert parse_move("move up") == "up"
    assert parse_move("  Move   RIGHT. ") == "right"
    assert parse_move('"move left"') == "left"
    for bad in ("up", "move", "move north", "move up and down", "go down", ""):
        assert parse_move(bad) is None, bad


def test_moves_walls_invalid_and_success(env: MazeEnv) -> None:
    env.reset(18)  # (7, 6), right above the goal
    res = env.step("move left")  # wall: stay, not counted as invalid
    assert not res.info["invalid_action"] and res.info["hit_wall"]
    assert "wall" in res.observation and "You are at (7, 6)" in res.observation
    assert res.reward == 0 and not res.done
    res = env.step("fly away")
    assert res.info["invalid_action"] and "Invalid action" in res.observation
    assert "move up, move down, move left, move right" in res.observation
    assert env.pos == (7, 6)
    res = env.step("move up")
    assert env.pos == (6, 6) and not res.info["invalid_action"] and not res.info["hit_wall"]
    env.step("move down")
    res = env.step("Move Down")
    assert res.reward == 1.0 and res.terminated and not res.truncated and res.info["success"]
    assert "Success" in res.observation
    assert res.info["rounds"] == 5
    with pytest.raises(EpisodeOver):
        env.step("move up")


def test_round_limit_truncates(env: MazeEnv) -> None:
    env.reset(0)
    results = [env.step("move up") for _ in range(15)]
    assert [r.truncated for r in results] == [False] * 14 + [True]
    assert not results[-1].terminated and results[-1].reward == 0 and not results[-1].info["success"]
    with pytest.raises(EpisodeOver):
        env.step("move right")


def test_unknown_task(env: MazeEnv) -> None:
    for bad in (25, -1, 999, 5000):
        with pytest.raises(UnknownTask):
            env.reset(bad)


def test_available_actions_and_random_action(env: MazeEnv) -> None:
    env.reset(3)
    assert env.available_actions() == ["move up", "move down", "move left", "move right"]
    a = [env.random_action(random.Random(5)) for _ in range(3)]
    assert len(set(a)) == 1 and a[0] in env.available_actions()


def test_expert_is_optimal_on_test_split(env: MazeEnv) -> None:
    for task in env.spec.split("test"):
        env.reset(task)
        shortest = env.shortest_path_length()
        reply = env.expert_reply()
        assert reply.startswith("Thought: ") and "\nAction: move " in reply
        assert parse_reply(reply, "react_first").action.startswith("move ")
        reward, success, seen = run_expert_episode(env, task)
        assert success and reward == 1.0
        assert len(seen) - 1 == shortest  # no wasted move


def test_generated_train_mazes() -> None:
    env = MazeEnv()
    rng = random.Random(0)
    sample = rng.sample(env.spec.split("train"), 300)
    shapes = set()
    for task_id in sample:
        task = tasks.get_task(task_id)
        shapes.add((len(task.grid), len(task.grid[0])))
        assert task.free(task.start) and task.free(task.goal) and task.start != task.goal
        assert all(set(row) <= {"#", "."} for row in task.grid)
        dist = tasks.distances(task.grid, task.goal)
        assert 2 <= dist[task.start] <= tasks.MAX_START_DISTANCE < env.max_rounds
        _, success, seen = run_expert_episode(env, task_id)
        assert success and len(seen) - 1 == dist[task.start]
    assert len(shapes) > 5  # several sizes
    # task id -> maze is a pure function of the id (not of the cache or call order)
    tasks.get_task.cache_clear()
    again = tasks.get_task(sample[0])
    assert again == tasks.generate(random.Random(derive_seed("maze-train", sample[0])))


def test_generated_mazes_have_loops_sometimes() -> None:
    """Braiding: some train mazes have more passages than a tree (cells - 1 edges) has."""
    loops = 0
    for task_id in range(1000, 1100):
        grid = tasks.get_task(task_id).grid
        free = [(r, c) for r, row in enumerate(grid) for c, ch in enumerate(row) if ch == "."]
        edges = sum(1 for r, c in free for dr, dc in ((0, 1), (1, 0)) if grid[r + dr][c + dc] == ".")
        loops += edges > len(free) - 1
    assert 10 < loops < 100


def test_same_task_and_seed_same_episode(env: MazeEnv) -> None:
    other = MazeEnv()
    for task in (7, 1234):
        a = [env.reset(task, seed=3).text] + [env.step(m).observation for m in ("move up", "move left")]
        b = [other.reset(task, seed=3).text] + [other.step(m).observation for m in ("move up", "move left")]
        assert a == b


def test_instruction_and_render(env: MazeEnv) -> None:
    text = env.instruction()
    assert "move up" in text and "Thought:" in text and "Action:" in text and "15" in text
    env.reset(0)
    picture = env.render().splitlines()
    assert picture[1][1] == "@" and picture[8][6] == "G"


def test_double_t_train_tasks_never_have_the_test_goal(env: MazeEnv) -> None:
    """Train ids 100-619: the test layout with every other goal, shuffled, all solvable in time."""
    ids = tasks.DOUBLE_T_TRAIN_IDS
    assert ids[0] == 100 and len(ids) == len(set(ids)) > 400
    assert set(ids) <= set(MazeEnv.spec.split("train"))
    pairs = set()
    for task_id in ids:
        task = tasks.get_task(task_id)
        assert task.grid == tasks.DOUBLE_T and task.goal != tasks.DOUBLE_T_GOAL
        dist = tasks.distances(task.grid, task.goal)[task.start]
        assert 2 <= dist <= tasks.MAX_START_DISTANCE
        pairs.add((task.start, task.goal))
    assert len(pairs) == len(ids)
    # the order is shuffled: the first 30 ids already cover many goals
    assert len({tasks.get_task(i).goal for i in ids[:30]}) >= 10
    for task_id in ids[:40]:
        _, success, seen = run_expert_episode(env, task_id)
        assert success
    with pytest.raises(UnknownTask):
        env.reset(ids[-1] + 1)
