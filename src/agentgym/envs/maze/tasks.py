"""Maze task source: task id -> (grid, start, goal).

* **test** (ids 0-24): LMRL-Gym's fixed double-T maze (10x13 grid, goal (8, 6)) with the original
  start positions, indexed as the original ``game`` argument; the original list has a 26th start
  equal to the goal, which the original reset rejects, so exactly 25 games exist.
* **train, double-T** (ids 100-...): the test maze's layout with *another goal*: every (start, goal)
  pair of distinct free cells with goal != (8, 6) and start 2..14 moves from the goal, in a fixed
  shuffled order (so the first n ids are a varied sample). No train task has the test goal, so a
  test task (start, (8, 6)) is never seen in training; this is the analogue of the original's
  AgentTraj maze set, which sits on the 25 test starts themselves (reference §3.6), without the
  overlap. A model learns the layout here and must generalise to the held-out goal.
* **train, generated** (ids 1000-4999): mazes generated from the task id alone (a private RNG seeded by a
  stable hash of the id): a perfect maze of 3..7 x 3..7 cells carved by a randomized depth-first
  search on a (2h+1) x (2w+1) grid, then *braided* (some dead ends opened, so loops exist), with a
  random goal and a start 2..14 moves away so that the 15-round limit always leaves room.

Positions are (row, column) with row 0 at the top, as in LMRL-Gym. A grid is a tuple of strings,
``#`` for a wall and ``.`` for a free cell.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from agentgym.core.seeding import derive_seed

Pos = tuple[int, int]
Grid = tuple[str, ...]

DOUBLE_T: Grid = (
    "#############",
    "#.....#.....#",
    "###.#####.###",
    "###.#####.###",
    "###.#####.###",
    "###.......###",
    "######.######",
    "######.######",
    "######.######",
    "#############",
)
DOUBLE_T_GOAL: Pos = (8, 6)
DOUBLE_T_STARTS: tuple[Pos, ...] = (
    (1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 7), (1, 8), (1, 9), (1, 10), (1, 11),
    (2, 3), (3, 3), (4, 3), (5, 3), (5, 4), (5, 5), (5, 6), (6, 6), (7, 6),
    (5, 7), (5, 8), (5, 9), (4, 9), (3, 9), (2, 9),
)  # fmt: skip

MAX_START_DISTANCE = 14  # < max_rounds (15): a generated task is always solvable in time
MOVES: dict[str, Pos] = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
DOUBLE_T_TRAIN_FIRST = 100


@dataclass(frozen=True)
class MazeTask:
    grid: Grid
    start: Pos
    goal: Pos

    def free(self, pos: Pos) -> bool:
        r, c = pos
        return 0 <= r < len(self.grid) and 0 <= c < len(self.grid[0]) and self.grid[r][c] == "."


def _double_t_pairs() -> list[tuple[Pos, Pos]]:
    """(start, goal) pairs on the double-T layout with a goal other than the test goal, shuffled."""
    free = sorted(set(DOUBLE_T_STARTS) | {DOUBLE_T_GOAL})
    pairs = []
    for goal in free:
        if goal == DOUBLE_T_GOAL:
            continue
        dist = distances(DOUBLE_T, goal)
        pairs += [(start, goal) for start in free if 2 <= dist[start] <= MAX_START_DISTANCE]
    random.Random(derive_seed("maze-double-t-train")).shuffle(pairs)
    return pairs


@lru_cache(maxsize=4096)
def get_task(task_id: int) -> MazeTask:
    """The task of a (valid) global id; generated tasks are cached."""
    if 0 <= task_id < len(DOUBLE_T_STARTS):
        return MazeTask(DOUBLE_T, DOUBLE_T_STARTS[task_id], DOUBLE_T_GOAL)
    k = task_id - DOUBLE_T_TRAIN_FIRST
    if 0 <= k < len(DOUBLE_T_TRAIN_PAIRS):
        start, goal = DOUBLE_T_TRAIN_PAIRS[k]
        return MazeTask(DOUBLE_T, start, goal)
    if task_id in _GENERATED_SET:
        return generate(random.Random(derive_seed("maze-train", task_id)))
    raise KeyError(f"maze has no task {task_id}")


def distances(task_grid: Grid, source: Pos) -> dict[Pos, int]:
    """BFS distances (in moves) from ``source`` to every reachable free cell."""
    task = MazeTask(task_grid, source, source)
    dist = {source: 0}
    queue = deque([source])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES.values():
            nxt = (r + dr, c + dc)
            if nxt not in dist and task.free(nxt):
                dist[nxt] = dist[(r, c)] + 1
                queue.append(nxt)
    return dist


@lru_cache(maxsize=4096)
def goal_distances(grid: Grid, goal: Pos) -> dict[Pos, int]:
    """`distances` from the goal, cached: the expert asks for them on every step."""
    return distances(grid, goal)


def generate(rng: random.Random) -> MazeTask:
    """A braided maze with a reachable goal and start; everything drawn from ``rng``."""
    h, w = rng.randint(3, 7), rng.randint(3, 7)
    rows, cols = 2 * h + 1, 2 * w + 1
    cells = [["#"] * cols for _ in range(rows)]
    # randomized depth-first search over the h x w cells at odd coordinates
    start = (rng.randrange(h), rng.randrange(w))
    seen = {start}
    stack = [start]
    cells[2 * start[0] + 1][2 * start[1] + 1] = "."
    while stack:
        r, c = stack[-1]
        nbrs = [(r + dr, c + dc) for dr, dc in MOVES.values() if 0 <= r + dr < h and 0 <= c + dc < w]
        nbrs = [n for n in nbrs if n not in seen]
        if not nbrs:
            stack.pop()
            continue
        nr, nc = rng.choice(nbrs)
        cells[r + nr + 1][c + nc + 1] = "."  # the wall between the two cells
        cells[2 * nr + 1][2 * nc + 1] = "."
        seen.add((nr, nc))
        stack.append((nr, nc))
    # braid: open one inner wall next to some dead ends so the maze has loops
    braid = rng.choice((0.0, 0.25, 0.5))
    for r in range(h):
        for c in range(w):
            cr, cc = 2 * r + 1, 2 * c + 1
            walls = [(dr, dc) for dr, dc in MOVES.values() if cells[cr + dr][cc + dc] == "#"]
            inner = [(dr, dc) for dr, dc in walls if 0 < cr + 2 * dr < rows and 0 < cc + 2 * dc < cols]
            if len(walls) == 3 and inner and rng.random() < braid:
                dr, dc = rng.choice(inner)
                cells[cr + dr][cc + dc] = "."
    grid: Grid = tuple("".join(row) for row in cells)
    free = [(r, c) for r in range(rows) for c in range(cols) if grid[r][c] == "."]
    goal = rng.choice(free)
    dist = distances(grid, goal)
    starts = sorted(p for p, d in dist.items() if 2 <= d <= MAX_START_DISTANCE)
    return MazeTask(grid, rng.choice(starts), goal)


DOUBLE_T_TRAIN_PAIRS: list[tuple[Pos, Pos]] = _double_t_pairs()
DOUBLE_T_TRAIN_IDS: list[int] = list(
    range(DOUBLE_T_TRAIN_FIRST, DOUBLE_T_TRAIN_FIRST + len(DOUBLE_T_TRAIN_PAIRS))
)
GENERATED_TRAIN_IDS: list[int] = list(range(1000, 5000))
_GENERATED_SET = frozenset(GENERATED_TRAIN_IDS)
TEST_IDS: list[int] = list(range(len(DOUBLE_T_STARTS)))
TRAIN_IDS: list[int] = DOUBLE_T_TRAIN_IDS + GENERATED_TRAIN_IDS
