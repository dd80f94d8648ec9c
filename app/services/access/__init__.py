"""The ONE place that decides who may see and do what: one module per domain behind this face
(as Discourse splits its Guardian). Every door (pages, JSON, sockets, search, notifications,
feeds, exports) asks `from app.services import access; access.x(...)`.

- base: active accounts, reading and discovering communities (checks and SQL clauses),
  CommunityAccess / PostAccess
- communities: community_for (fetch and authorize), creating, inviting into one
- people: who sees whom and whose email address
- posts: post_for, who edits, deletes, moderates, responds; hidden and held posts
- comments: who edits, deletes, accepts a comment, sees its revisions
- rooms: who edits, deletes, promotes a live-channel message
- experts: who counts as a current expert of a topic
- moderation: internal notes, moderation queues, sanctions
- roles: admins, the social team, managers and the staff doors they open

A community the viewer may not discover answers NotFound, so its existence does not leak.
"""
from app.services.access import comments, communities, experts, moderation, people, posts, roles, rooms
from app.services.access.base import (
    CommunityAccess,
    PostAccess,
    access_to,
    can_discover,
    can_read,
    discoverable_clause,
    is_active_account,
    kind_may_be_member,
    may_be_member,
    membership_of,
    person_reads_clause,
    readable_clause,
    readable_community_ids,
)
from app.services.access.comments import (
    can_see_comment,
    comment_for,
    may_accept_comment,
    may_delete_comment,
    may_edit_comment,
    may_see_comment_revisions,
)
from app.services.access.communities import can_create_community, can_invite_into, community_by_id_for, community_for
from app.services.access.moderation import (
    can_sanction_accounts,
    is_post_staff,
    moderated_community_ids,
    moderates_any,
)
from app.services.access.people import (
    can_see_email,
    can_see_person,
    may_download_export,
    may_see_vote_details,
    people_clause,
    person_for,
    sees_all_people,
)
from app.services.access.posts import (
    can_read_post,
    can_respond_officially,
    can_see_post,
    moderation_visible_clause,
    post_access,
    post_for,
    readable_posts_clause,
)
from app.services.access.roles import (
    HeaderRoles,
    can_invite_externals,
    can_see_organisation,
    header_roles,
    is_active_employee,
    managed_communities,
    managed_community_ids,
    manages_any,
    may_edit_guidelines,
    may_enrol_totp,
    may_open_insight,
    may_revoke_invitation,
    must_set_up_second_factor,
    require_admin,
    require_staff,
    sees_every_invitation,
)
from app.services.access.rooms import (
    chat_message_for,
    may_delete_chat_message,
    may_edit_chat_message,
    may_promote_chat_message,
)

__all__ = [
    "CommunityAccess", "HeaderRoles", "PostAccess",
    "access_to", "can_create_community", "can_discover", "can_invite_externals", "can_invite_into",
    "can_read", "can_read_post", "can_respond_officially", "can_sanction_accounts", "can_see_comment",
    "can_see_email", "can_see_organisation", "can_see_person", "can_see_post", "chat_message_for", "comment_for",
    "community_by_id_for",
    "community_for", "discoverable_clause", "header_roles", "is_active_account", "is_active_employee",
    "is_post_staff", "kind_may_be_member", "managed_communities", "managed_community_ids",
    "manages_any", "may_accept_comment", "may_be_member", "may_delete_chat_message", "may_delete_comment",
    "may_edit_chat_message", "may_edit_comment", "may_edit_guidelines", "may_enrol_totp", "may_open_insight",
    "may_promote_chat_message", "may_revoke_invitation", "may_see_comment_revisions", "may_see_vote_details", "may_download_export", "must_set_up_second_factor",
    "membership_of", "moderated_community_ids", "moderates_any", "moderation_visible_clause", "people_clause",
    "person_for", "person_reads_clause", "post_access", "post_for", "readable_clause", "readable_community_ids",
    "readable_posts_clause", "require_admin", "require_staff", "sees_all_people", "sees_every_invitation",
    "comments", "communities", "experts", "moderation", "people", "posts", "roles", "rooms",
]
