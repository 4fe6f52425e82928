"""AgentEval: benchmark items, metrics (success, score, CIs, pass@k), reports and run comparison."""

from agentgym.eval.metrics import bootstrap_ci, env_metrics, pass_at_k, run_metrics, wilson_ci
from agentgym.eval.suite import build_suite, items_for, parse_envs

__all__ = [
    "bootstrap_ci",
    "build_suite",
    "env_metrics",
    "items_for",
    "parse_envs",
    "pass_at_k",
    "run_metrics",
    "wilson_ci",
]
