"""README claim: "When the original data is on disk, the loaders use it with the original ids:
`$WEBSHOP_DATA` (items_shuffle / items_ins_v2 files), `$BIRD_PATH` (BIRD train/dev, ids 0-9427 /
9428-10961)" - and these paths are server settings (environment variables), never client kwargs.

Small fixtures in the original layouts are built in tmp_path:

* WebShop: ``items_shuffle_*.json`` (a list of scraped products: asin, name, category, query,
  product_category, full_description, small_description, pricing, customization_options with
  ``{"value", "image"}`` entries, images, ...) and ``items_ins_v2_*.json`` (asin -> attributes,
  instruction, instruction_attributes), as in the original WebShop repo's ``data/``;
* BIRD: ``train/train.json`` + ``train/train_databases/<db>/<db>.sqlite`` and ``dev/dev.json``
  (with ``question_id`` and ``difficulty``) + ``dev/dev_databases/<db>/<db>.sqlite``, each database
  folder with its ``database_description/*.csv``, plus the ``*_tables.json`` / gold ``.sql`` files
  BIRD ships beside them. The dev database has the same name as a train one but other contents, so
  a dev id answered from the train database would fail.

A real ``agentgym serve webshop bird --expert`` is started with the variables set (as an operator
would), and everything is checked over HTTP: the specs' splits, the tasks behind the original ids,
expert episodes, the original routes, and `agentgym eval --items` on an AgentEval file with the
original item ids (``sqlgym_<id>``, ``webshop_<id>``).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agentgym.core.react import parse_reply

AGENTGYM = Path(sys.executable).with_name("agentgym")
HANG_GUARD_S = 180.0  # generous: only there so a broken build fails instead of hanging

# ------------------------------------------------------------------ WebShop fixture
COLORS = ["black", "white", "navy blue", "red", "grey"]
SIZES = ["small", "medium", "large", "x-large", "xx-large", "3x-large"]
PRODUCTS = [  # (asin, category, query, name, instruction, instruction attributes)
    ("B09QKP7XQL", "fashion", "men's shorts", "Hanes Men's Jersey Shorts with Elastic Waist and Pockets",
     "i need men's shorts with an elastic waist", ["elastic waist"]),
    ("B07Y2JQ1PZ", "fashion", "women's sweaters", "Cable Knit Pullover Sweater for Women Long Sleeve",
     "i'm looking for a long sleeve women's sweater", ["long sleeve"]),
    ("B08FJ1WXYZ", "beauty", "hair treatment oils", "Argan Oil Hair Serum Leave In Treatment for Dry Hair",
     "i want a hair serum for dry hair", ["dry hair"]),
    ("B01N5KQ2ZD", "grocery", "herbal tea", "Organic Chamomile Herbal Tea Bags Caffeine Free",
     "find me caffeine free organic herbal tea", ["caffeine free"]),
    ("B07PQRS9TU", "electronics", "hdmi cables", "High Speed HDMI Cable Gold Plated Braided Cord",
     "i need a gold plated hdmi cable", ["gold plated"]),
    ("B0922XYZAB", "garden", "solar lights", "Solar Pathway Lights Outdoor Waterproof Garden Lamp",
     "i am looking for waterproof solar lights for the garden", ["waterproof"]),
    ("B08LMNOP12", "fashion", "men's running shoes", "Lightweight Men's Running Shoes Non Slip Sneakers",
     "i want non slip running shoes for men", ["non slip"]),
    ("B09ABCDEF1", "beauty", "lip balm", "Natural Beeswax Lip Balm Moisturizing Set of 4",
     "i want a natural moisturizing lip balm", ["natural"]),
]  # fmt: skip
PRICES = ["$15.99", "$39.99", "$12.50", "$8.99", "$10.99 to $24.99", "$29.99", "$54.00", "$6.49"]
GOALS_PER_PRODUCT = len(COLORS) * len(SIZES)  # 30 option combinations (< the 50 cap)
N_GOALS = len(PRODUCTS) * GOALS_PER_PRODUCT  # 240 > the 200-goal test split
WEBSHOP_TEST = [3, 17, 210, 239]  # AgentEval-style ids (webshop_<n>) for $WEBSHOP_TEST_IDS


def write_webshop(folder: Path) -> dict[str, dict]:
    folder.mkdir(parents=True)
    products, ins = [], {}
    for (asin, category, query, name, instruction, attrs), price in zip(PRODUCTS, PRICES, strict=True):
        products.append({
            "asin": asin,
            "category": category,
            "query": query,
            "name": name,
            "product_category": f"{category.title()} › {query.title()}",
            "full_description": f"{name}. Made to last, shipped in a recyclable box.",
            "pricing": price,
            "images": [f"https://m.media-amazon.com/images/I/{asin}.jpg"],
            "average_rating": 4.4,
            "small_description": [f"{attrs[0]}", "satisfaction guaranteed"],
            "model": None,
            "customization_options": {
                "color": [{"value": c, "image": f"https://m.media-amazon.com/{c}.jpg"} for c in COLORS],
                "size": [{"value": s, "image": None} for s in SIZES],
            },
            "product_information": {"Manufacturer": "Acme"},
            "review": None,
        })  # fmt: skip
        ins[asin] = {
            "attributes": [*attrs, "high quality"],
            "instruction": instruction,
            "instruction_attributes": attrs,
        }
    # a product without an instruction: in the catalog, but no goal is drawn from it
    products.append({**products[0], "asin": "B000NOGOAL", "name": "Plain Cotton Socks Pack of 6"})
    products.append(dict(products[1]))  # a duplicate asin, as scraped data has: loaded once
    (folder / "items_shuffle_1000.json").write_text(json.dumps(products))
    (folder / "items_ins_v2_1000.json").write_text(json.dumps(ins))
    return ins


# ------------------------------------------------------------------ BIRD fixture
BIRD_TRAIN = [  # train/train.json: no question_id, no difficulty
    {"db_id": "shop", "question": "What is the name of the cheapest item?", "evidence": "",
     "SQL": "SELECT name FROM items ORDER BY price ASC LIMIT 1"},
    {"db_id": "shop", "question": "How many items cost more than 5 dollars?",
     "evidence": "more than 5 dollars refers to price > 5", "SQL": "SELECT COUNT(*) FROM items WHERE price > 5"},
    {"db_id": "library", "question": "Which books were written by Ursula Le Guin?", "evidence": "",
     "SQL": "SELECT title FROM books WHERE author = 'Ursula Le Guin'"},
    {"db_id": "library", "question": "List the authors with more than one book.", "evidence": "",
     "SQL": "SELECT author FROM books GROUP BY author HAVING COUNT(*) > 1"},
    {"db_id": "shop", "question": "What is the total price of all items?", "evidence": "",
     "SQL": "SELECT SUM(price) FROM items"},
]  # fmt: skip
BIRD_DEV = [  # dev/dev.json
    {"question_id": 0, "db_id": "shop", "question": "Which item has the largest refund?",
     "evidence": "largest refund refers to MAX(amount)",
     "SQL": "SELECT i.name FROM items i JOIN refunds r ON r.item_id = i.id ORDER BY r.amount DESC LIMIT 1",
     "difficulty": "moderate"},
    {"question_id": 1, "db_id": "zoo", "question": "How many animals live in the zoo?", "evidence": "",
     "SQL": "SELECT COUNT(*) FROM animals", "difficulty": "simple"},
    {"question_id": 2, "db_id": "zoo", "question": "Name the heaviest animal.", "evidence": "",
     "SQL": "SELECT name FROM animals ORDER BY weight DESC LIMIT 1", "difficulty": "simple"},
    {"question_id": 3, "db_id": "shop", "question": "What is the name of the cheapest item?", "evidence": "",
     "SQL": "SELECT name FROM items ORDER BY price ASC LIMIT 1", "difficulty": "simple"},
]  # fmt: skip
N_TRAIN = len(BIRD_TRAIN)  # the original ids: train 0..N_TRAIN-1, then dev N_TRAIN.. (9428.. in BIRD)
BIRD_TEST = [N_TRAIN + 0, N_TRAIN + 2, N_TRAIN + 3]  # AgentEval-style ids (sqlgym_<n>) for $BIRD_TEST_IDS

DATABASES = {
    ("train", "shop"): {
        "items": ("id INTEGER PRIMARY KEY, name TEXT, price REAL", [(1, "pen", 2.5), (2, "ink", 9.0), (3, "pad", 6.0)]),
    },
    ("train", "library"): {
        "books": ("id INTEGER PRIMARY KEY, title TEXT, author TEXT",
                  [(1, "A Wizard of Earthsea", "Ursula Le Guin"), (2, "The Dispossessed", "Ursula Le Guin"),
                   (3, "Dune", "Frank Herbert")]),
    },
    # the dev "shop" is another database than the train one (other rows, one more table)
    ("dev", "shop"): {
        "items": ("id INTEGER PRIMARY KEY, name TEXT, price REAL", [(1, "lamp", 30.0), (2, "rug", 80.0), (3, "mug", 4.0)]),
        "refunds": ("refund_id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items(id), amount REAL",
                    [(1, 1, 10.0), (2, 2, 25.0)]),
    },
    ("dev", "zoo"): {
        "animals": ("id INTEGER PRIMARY KEY, name TEXT, weight REAL",
                    [(1, "elephant", 5400.0), (2, "owl", 1.5), (3, "tiger", 220.0)]),
    },
}  # fmt: skip


def write_bird(root: Path) -> None:
    for (split, db_id), tables in DATABASES.items():
        db_dir = root / split / f"{split}_databases" / db_id
        (db_dir / "database_description").mkdir(parents=True)
        conn = sqlite3.connect(db_dir / f"{db_id}.sqlite")
        for table, (columns, rows) in tables.items():
            conn.execute(f"CREATE TABLE {table} ({columns})")
            conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
            names = [c.split()[0] for c in columns.split(", ")]
            desc = "original_column_name,column_name,column_description,data_format,value_description\n"
            desc += "".join(f"{n},{n},the {n},text,\n" for n in names)
            (db_dir / "database_description" / f"{table}.csv").write_text(desc)
        conn.commit()
        conn.close()
    for split, items in (("train", BIRD_TRAIN), ("dev", BIRD_DEV)):
        (root / split / f"{split}.json").write_text(json.dumps(items, indent=4))
        (root / split / f"{split}_tables.json").write_text(json.dumps([]))
        gold = "".join(f"{it['SQL']}\t{it['db_id']}\n" for it in items)
        (root / split / ("train_gold.sql" if split == "train" else "dev.sql")).write_text(gold)


# ------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """`agentgym serve webshop bird --expert` with $WEBSHOP_DATA and $BIRD_PATH pointing at the fixtures."""
    root = tmp_path_factory.mktemp("original")
    ins = write_webshop(root / "webshop")
    write_bird(root / "bird")
    (root / "webshop_test.json").write_text(json.dumps([{"item_id": f"webshop_{i}"} for i in WEBSHOP_TEST]))
    (root / "sqlgym_test.json").write_text(
        json.dumps([{"item_id": f"sqlgym_{i}", "conversations": []} for i in BIRD_TEST])
    )
    env = {
        **os.environ,
        "WEBSHOP_DATA": str(root / "webshop"),
        "WEBSHOP_TEST_IDS": str(root / "webshop_test.json"),
        "BIRD_PATH": str(root / "bird"),
        "BIRD_TEST_IDS": str(root / "sqlgym_test.json"),
        "AGENTGYM_CACHE": str(root / "cache"),  # nothing generated may be needed or used
    }
    port = free_port()
    log = root / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(AGENTGYM), "serve", "webshop", "bird", "--port", str(port), "--expert"],
            stdout=fh, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "hang guard: agentgym serve did not come up"
            time.sleep(0.1)
        with httpx.Client(base_url=url, timeout=60) as client:
            yield {"url": url, "client": client, "root": root, "env": env, "ins": ins}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def play_expert(c: httpx.Client, env: str, task: int, fmt: str) -> tuple[str, dict]:
    """Reset ``task`` in a new session and play the expert to the end; (first observation, last step)."""
    sid = c.post("/v1/sessions", json={"env": env}).json()["session_id"]
    try:
        first = c.post(f"/v1/sessions/{sid}/reset", json={"task_id": task})
        assert first.status_code == 200, first.text
        out: dict = {}
        for _ in range(12):
            reply = c.get(f"/v1/sessions/{sid}/expert").json()["reply"]
            out = c.post(f"/v1/sessions/{sid}/step", json={"action": parse_reply(reply, fmt).action}).json()
            if out["done"]:
                break
        return first.json()["observation"], out
    finally:
        c.delete(f"/v1/sessions/{sid}")


# ------------------------------------------------------------------ WebShop
def test_webshop_serves_the_original_products_and_goals(original):
    c, ins = original["client"], original["ins"]
    spec = c.get("/v1/envs/webshop").json()
    assert "original data" in spec["description"]
    assert spec["splits"]["test"] == sorted(WEBSHOP_TEST)  # from $WEBSHOP_TEST_IDS (webshop_<n>)
    assert spec["splits"]["train"] == [i for i in range(N_GOALS) if i not in WEBSHOP_TEST]
    # every goal is one of a fixture product's instructions, with its options and a price bound
    starts: dict[str, int] = {}
    for task in range(0, N_GOALS, 7):
        sid = c.post("/v1/sessions", json={"env": "webshop"}).json()["session_id"]
        info = c.post(f"/v1/sessions/{sid}/reset", json={"task_id": task}).json()["info"]
        c.delete(f"/v1/sessions/{sid}")
        goal = info["goal"]
        assert goal["asin"] in ins, goal
        text = info["instruction_text"]
        assert text.startswith(ins[goal["asin"]]["instruction"] + " with ")
        assert goal["attributes"] == ins[goal["asin"]]["instruction_attributes"]
        assert goal["options"]["color"] in COLORS and goal["options"]["size"] in SIZES
        starts[goal["asin"]] = starts.get(goal["asin"], 0) + 1
    assert len(starts) == len(PRODUCTS)  # goals of every product with an instruction, shuffled
    for task in WEBSHOP_TEST:  # the expert buys the right product on the original catalog
        obs, out = play_expert(c, "webshop", task, "react_last")
        assert obs.startswith("WebShop [SEP] Instruction: [SEP] ")
        assert out["done"] and out["reward"] == 1.0 and out["info"]["success"], (task, out)
        assert out["info"]["purchased"] in ins
    sid = c.post("/v1/sessions", json={"env": "webshop"}).json()["session_id"]
    assert c.post(f"/v1/sessions/{sid}/reset", json={"task_id": N_GOALS}).status_code == 404  # past the goals
    c.delete(f"/v1/sessions/{sid}")


def test_webshop_catalog_is_the_original_file(original):
    c = original["client"]
    sid = c.post("/v1/sessions", json={"env": "webshop"}).json()["session_id"]
    c.post(f"/v1/sessions/{sid}/reset", json={"task_id": WEBSHOP_TEST[0]})
    out = c.post(f"/v1/sessions/{sid}/step", json={"action": "search[plain cotton socks]"}).json()
    assert (
        "b000nogoal" in out["info"]["clickables"]
    )  # in the catalog though it has no goal (lowercase, as the original)
    assert "Plain Cotton Socks Pack of 6" in out["observation"]
    out = c.post(f"/v1/sessions/{sid}/step", json={"action": "click[B000NOGOAL]"}).json()
    assert out["info"]["page"] == "item" and "$15.99" in out["observation"]
    c.delete(f"/v1/sessions/{sid}")


def test_webshop_original_routes_use_the_original_ids(original):
    c = original["client"]
    env_idx = c.post("/webshop/create").json()
    assert isinstance(env_idx, int)
    obs, null = c.post("/webshop/reset", json={"env_idx": env_idx, "session_id": 17}).json()
    assert null is None
    sid = c.post("/v1/sessions", json={"env": "webshop"}).json()["session_id"]
    assert c.post(f"/v1/sessions/{sid}/reset", json={"task_id": 17}).json()["observation"] == obs
    text = c.get("/webshop/instruction_text", params={"env_idx": env_idx}).json()
    assert text in obs and any(text.startswith(v["instruction"]) for v in original["ins"].values())


# ------------------------------------------------------------------ BIRD
def test_bird_serves_train_and_dev_with_the_original_ids(original):
    c = original["client"]
    spec = c.get("/v1/envs/bird").json()
    assert "BIRD from" in spec["description"]
    n_dev = len(BIRD_DEV)
    assert spec["splits"] == {
        "train": list(range(N_TRAIN)),
        "test": BIRD_TEST,  # from $BIRD_TEST_IDS (sqlgym_<n>)
        "dev": list(range(N_TRAIN, N_TRAIN + n_dev)),
    }
    for task in range(N_TRAIN + n_dev):
        item = BIRD_TRAIN[task] if task < N_TRAIN else BIRD_DEV[task - N_TRAIN]
        obs, out = play_expert(c, "bird", task, "sql_block")
        assert f"Question: {item['question']}" in obs and f"The database {item['db_id']}" in obs
        if item["evidence"]:
            assert f"Evidence: {item['evidence']}" in obs
        # dev ids read the dev databases (the dev "shop" has a refunds table; the train one has not)
        if item["db_id"] == "shop":
            assert ("refunds" in obs) == (task >= N_TRAIN), task
        assert out["done"] and out["reward"] == 1.0, (task, out)
        assert out["info"]["ground_truth"] == item["SQL"]
    # the dev answer differs from the train database's answer to the same question
    assert BIRD_DEV[3]["question"] == BIRD_TRAIN[0]["question"]
    sid = c.post("/v1/sessions", json={"env": "bird"}).json()["session_id"]
    c.post(f"/v1/sessions/{sid}/reset", json={"task_id": N_TRAIN + 3})
    out = c.post(f"/v1/sessions/{sid}/step", json={"action": "```sql\nSELECT 'pen'\n```"}).json()
    assert out["reward"] == 0.0  # "pen" is the train shop's cheapest item; the dev shop's is "mug"
    c.post(f"/v1/sessions/{sid}/reset", json={"task_id": N_TRAIN + 3})
    out = c.post(f"/v1/sessions/{sid}/step", json={"action": "```sql\nSELECT 'mug'\n```"}).json()
    assert out["reward"] == 1.0
    assert c.post(f"/v1/sessions/{sid}/reset", json={"task_id": N_TRAIN + n_dev}).status_code == 404


def test_bird_original_routes(original):
    c = original["client"]
    env_idx = c.post("/bird/create").json()
    obs, null = c.post("/bird/reset", json={"env_idx": env_idx, "item_id": N_TRAIN + 1}).json()
    assert null is None and BIRD_DEV[1]["question"] in obs
    out = c.post("/bird/step", json={"env_idx": env_idx, "action": BIRD_DEV[1]["SQL"]}).json()
    assert out["reward"] == 1 and out["done"] is True and out["info"]["ground_truth"] == BIRD_DEV[1]["SQL"]


def test_paths_are_server_settings_not_session_kwargs(original, tmp_path):
    c = original["client"]
    for env, kwargs in (("bird", {"bird_path": str(tmp_path)}), ("webshop", {"data_path": str(tmp_path)})):
        resp = c.post("/v1/sessions", json={"env": env, "kwargs": kwargs})
        assert resp.status_code == 422, resp.text


def test_eval_on_an_agenteval_file_with_original_ids(original, tmp_path):
    """`agentgym eval --items` with the original item ids plays exactly those tasks on the server."""
    items = tmp_path / "agenteval.json"
    ids = [f"sqlgym_{i}" for i in BIRD_TEST] + [f"webshop_{i}" for i in (3, 17)]
    items.write_text(json.dumps([{"item_id": i, "conversations": []} for i in ids]))
    out = tmp_path / "run"
    res = subprocess.run(
        [str(AGENTGYM), "eval", "--envs", "bird,webshop", "--agent", "expert", "--server", original["url"],
         "--items", str(items), "--out", str(out), "--no-progress"],
        capture_output=True, text=True, env=original["env"], timeout=HANG_GUARD_S,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    trajs = [json.loads(x) for x in (out / "trajectories.jsonl").read_text().splitlines()]
    assert sorted((t["env"], t["task_id"]) for t in trajs) == sorted(
        [("bird", i) for i in BIRD_TEST] + [("webshop", 3), ("webshop", 17)]
    )
    assert all(t["success"] for t in trajs)
    bird_obs = {t["task_id"]: t["conversations"][2]["value"] for t in trajs if t["env"] == "bird"}
    assert all(BIRD_DEV[i - N_TRAIN]["question"] in bird_obs[i] for i in BIRD_TEST)
