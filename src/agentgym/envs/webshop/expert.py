"""WebShop expert: search -> pick a product that fully meets the goal -> choose options -> buy.

It reads privileged state (the goal) but buys through the same actions an agent has. On a results
page it clicks the goal's own product if listed, else the first product whose best option choice
earns reward 1 (checked with the real reward function); if none is on pages 1-2 it goes back and
searches for the product's title, which BM25 ranks first. Worst case: search, next, back, search,
click, options, buy - within WebShop's 10 rounds for up to three option groups.
"""

from __future__ import annotations

from agentgym.core.react import format_reply
from agentgym.envs.webshop.catalog import Product
from agentgym.envs.webshop.goals import Goal
from agentgym.envs.webshop.pages import Browser
from agentgym.envs.webshop.reward import best_selection, purchase_reward

FIRST_QUERY_PAGES = 2


def fits(goal: Goal, product: Product) -> bool:
    """Can ``product`` earn reward 1 for ``goal`` with the right options?"""
    return purchase_reward(goal, product, best_selection(goal, product)).reward >= 1.0


def expert_reply(browser: Browser, goal: Goal) -> str:
    s = browser.state
    if s.kind == "search":
        if browser.searches == 0:
            return format_reply(
                f"I need {goal.query} with the right features; let me search for it.",
                f"search[{goal.search_keywords}]",
            )
        return format_reply(
            "The first search did not show a matching product; I will search for a more specific title.",
            f"search[{goal.title}]",
        )
    if s.kind == "results":
        listed = browser.page_products()
        pick = next((p for p in listed if p.asin == goal.asin), None) or next(
            (p for p in listed if fits(goal, p)), None
        )
        if pick is not None:
            return format_reply(
                f"{pick.asin} is {goal.query} that matches what I need and costs ${pick.price:.2f}, "
                f"under ${goal.price_upper:.2f}. I will open it.",
                f"click[{pick.asin}]",
            )
        limit = FIRST_QUERY_PAGES if browser.searches == 1 else browser.n_pages()
        if s.page < min(limit, browser.n_pages()):
            return format_reply(
                "Nothing on this page fits all requirements; let me check the next page.", "click[Next >]"
            )
        return format_reply(
            "None of these results fit; I will go back and search again.", "click[Back to Search]"
        )
    if s.kind == "item":
        product = browser.product
        assert product is not None
        if not fits(goal, product):
            return format_reply(
                "This product does not meet the requirements; I will go back.", "click[< Prev]"
            )
        for group, value in best_selection(goal, product).items():
            if browser.selected.get(group) != value:
                return format_reply(
                    f"The instruction asks for {group} {value}; I will select it.", f"click[{value}]"
                )
        return format_reply(
            "The product and options match the instruction, so I will buy it.", "click[Buy Now]"
        )
    return format_reply("I have the information I need; back to the product page.", "click[< Prev]")
