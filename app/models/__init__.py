"""All tables. Importing this package registers every model with the metadata."""
from app.models.audit import AuditEntry
from app.models.chat import ChatMention, ChatMessage
from app.models.communities import Community, JoinRequest, MemberRole, Membership, Topic, Visibility
from app.models.experts import Escalation, ExpertAssignment, ExpertRoute, ExpertSettings, TopicFlag
from app.models.insight import (
    InsightActivity,
    InsightCommunity,
    InsightPeople,
    InsightPost,
    InsightPostWeek,
    InsightReplies,
    InsightState,
    InsightThreads,
)
from app.models.invitations import Invitation, invitation_communities
from app.models.jobs import Job, JobStatus, PeriodicRun
from app.models.moderation import InternalNote, ModerationSettings, Report, WatchRule
from app.models.notifications import Follow, Notification, NotificationSetting
from app.models.people import Department, ExpertiseTag, User, UserKind, user_expertise
from app.models.policy import GuidelineAcceptance, GuidelineVersion
from app.models.posts import (
                              AnswerRequest,
                              Attachment,
                              Comment,
                              CommentLike,
                              IdeaStatus,
                              Post,
                              PostKind,
                              PostRead,
                              Revision,
                              StatusChange,
                              Vote,
                              post_topics,
)
from app.models.privacy import AccountClosure, DataExport
from app.models.search import SavedSearch, SavedSearchHit, SearchChange, SearchLog
from app.models.security import RecoveryCode, Throttle, TotpSecret
from app.models.settings import SiteSetting

__all__ = [
    "AccountClosure", "DataExport", "GuidelineAcceptance", "GuidelineVersion", "RecoveryCode", "Throttle",
    "TotpSecret",
    "AuditEntry", "InternalNote", "ModerationSettings", "Report", "WatchRule",
    "SavedSearch", "SavedSearchHit", "SearchChange", "SearchLog",
    "ChatMention", "ChatMessage",
    "InsightActivity", "InsightCommunity", "InsightPeople", "InsightPost", "InsightPostWeek", "InsightReplies", "InsightState",
    "InsightThreads",
    "Escalation", "ExpertAssignment", "ExpertRoute", "ExpertSettings", "TopicFlag",
    "AnswerRequest", "Attachment", "Comment", "CommentLike", "Follow", "IdeaStatus", "Notification",
    "NotificationSetting", "Post", "PostKind", "PostRead", "Revision", "StatusChange", "Vote",
    "post_topics",
    "Community", "Department", "ExpertiseTag", "Invitation", "Job", "JobStatus", "JoinRequest",
    "MemberRole", "Membership", "PeriodicRun", "SiteSetting", "Topic", "User", "UserKind",
    "Visibility", "invitation_communities", "user_expertise",
]
