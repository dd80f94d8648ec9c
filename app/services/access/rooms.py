"""Rights on the live discussion channel's messages (reading a channel is reading its
community: base.can_read)."""
from __future__ import annotations

from app.models import ChatMessage
from app.services.access.base import CommunityAccess


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
