"""Saved searches of the demo organisation, through the search service (app.demo.seed)."""
from __future__ import annotations

from app.models import User
from app.services.search import can_save_managed, save


def seed(by_local: dict[str, User]) -> None:
    """Saved searches of the demo: Anna listens for returns, Sofia across her communities."""
    anna, sofia = by_local.get("anna"), by_local.get("sofia")
    if anna is not None:
        save(anna, "Returns and refunds", "return* OR refund*", alerts=True)
    if sofia is not None:
        save(sofia, "Complaints everywhere I manage", "complaint* OR disappointed OR broken",
             scope="managed" if can_save_managed(sofia) else "readable")
