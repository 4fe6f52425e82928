"""WebShop: buy what an instruction describes in a generated product catalog searched with tantivy."""

from agentgym.envs.webshop.env import WebShopEnv

__all__ = ["WebShopEnv"]
