"""Where expert assignment plugs into the access rules: access.can_respond_officially asks
`is_expert_for`, and the experts service answers (imported when first asked, so access does
not depend on the experts feature at import time)."""
from __future__ import annotations


def is_expert_for(user, post) -> bool:
    """Whether `user` is a current expert of one of the post's topics (the rules of who counts
    are in app.services.experts; reading the community is checked by the caller)."""
    from app.services import experts

    return experts.is_expert_for(user, post)
