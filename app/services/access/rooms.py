"""Rights on the live discussion channel's messages (reading a channel is reading its
community: base.can_read)."""
from __future__ import annotations

from app import inputs
from app.errors import NotFound
from app.extensions import db
from app.models import ChatMessage
from app.services.access.base import CommunityAccess
from app.services.access.communities import community_by_id_for


def chat_message_for(viewer, message_id) -> tuple[CommunityAccess, ChatMessage]:
    """Fetch a message; returns (the viewer's CommunityAccess to its community, the message).
    Raises NotFound when it does not exist or the viewer may not read its community."""
    if not isinstance(message_id, int) or inputs.id_or_none(message_id) is None:
        raise NotFound("No such message.")
    message = db.session.get(ChatMessage, message_id)
    if message is None:
        raise NotFound("No such message.")
    try:
        acc = community_by_id_for(viewer, message.community_id, "read")
    except NotFound:
        raise NotFound("No such message.") from None
    return acc, message


def _is_author(viewer, message: ChatMessage) -> bool:
    return message.author_id is not None and message.author_id == viewer.id


def may_edit_chat_message(viewer, message: ChatMessage) -> bool:
    """Only its author, while the message is not deleted. Raises nothing."""
    return message.deleted_at is None and _is_author(viewer, message)


def may_delete_chat_message(viewer, acc: CommunityAccess, message: ChatMessage) -> bool:
    """A live message: its author or the community's moderators. Raises nothing."""
    if message.deleted_at is not None:
        return False
    return acc.can_moderate or _is_author(viewer, message)


def may_promote_chat_message(viewer, acc: CommunityAccess, message: ChatMessage) -> bool:
    """Turn a live message into a post: its author or the community's moderators. Raises nothing."""
    if message.deleted_at is not None:
        return False
    return acc.can_moderate or _is_author(viewer, message)
