"""``envgym/WebShop-v0``: Lumen Market, a mock online shop driven through a real browser."""

from envgym.envs.web.shop.env import ShopEnv

__all__ = ["ShopEnv"]
