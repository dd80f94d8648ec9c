"""Pre-moderation: what happens to a post or comment before anyone else sees it.

Checked, in this order, when a post or comment is created (posts.create / comments.add call
check_post / check_comment inside their transaction):

1. Watched words and patterns (global rules of the social team, and the community's own):
   a "block" rule refuses the text with the rule's public message (ValidationError on "body");
   a "hold" rule lets it be saved but held for review (only its author and moderators see it).
2. Links: accounts younger than NEW_ACCOUNT_DAYS may include at most NEW_ACCOUNT_MAX_LINKS links.
3. The first N posts of an external account in a community are held (community setting, 0 = off).
4. Personal or confidential data (email addresses, phone numbers, IBANs, words marked
   confidential) in a community externals can read: ValidationError on "confirm_sensitive"
   until the author confirms; the form keeps what they typed.

The community's moderators and staff are never held (block rules and the data warning still apply).
"""
from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import exists, func, or_, select

from app import clock, inputs
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import Community, Membership, ModerationSettings, Post, User, UserKind, Visibility, WatchRule
from app.services import access
from app.services.platform import audit
from app.wording import plural

ACTIONS = ("block", "hold")
DEFAULT_NEW_ACCOUNT_DAYS = 7
DEFAULT_NEW_ACCOUNT_MAX_LINKS = 2
HOLD_MAX = 50

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d ()./-]{7,18}\d(?!\w)")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
LINK_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


# --- detection ----------------------------------------------------------------------------

def _iban_ok(candidate: str) -> bool:
    raw = candidate.replace(" ", "")
    if not 15 <= len(raw) <= 34:
        return False
    digits = "".join(str(int(ch, 36)) for ch in raw[4:] + raw[:4])
    return int(digits) % 97 == 1


def _phone_ok(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 9 <= len(digits) <= 15:
        return False
    return not re.fullmatch(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}", candidate.strip())  # a date


def sensitive_findings(text: str, confidential_words=()) -> list[str]:
    """What in `text` looks like personal or confidential data, as labels (empty: nothing)."""
    found = []
    if EMAIL_RE.search(text):
        found.append("an email address")
    if any(_phone_ok(m.group(0)) for m in PHONE_RE.finditer(text)):
        found.append("a phone number")
    if any(_iban_ok(m.group(0)) for m in IBAN_RE.finditer(text.upper())):
        found.append("a bank account number (IBAN)")
    lowered = text.lower()
    words = [w for w in confidential_words if w and re.search(r"(?<!\w)" + re.escape(w.lower()) + r"(?!\w)", lowered)]
    if words:
        found.append("the word" + ("s " if len(words) > 1 else " ") + ", ".join(f"“{w}”" for w in words))
    return found


def count_links(text: str) -> int:
    """How many links `text` contains. Raises nothing."""
    return len(LINK_RE.findall(text))


def _compile(rule: WatchRule):
    if rule.is_regex:
        try:
            return re.compile(rule.pattern, re.IGNORECASE)
        except re.error:
            return None
    return re.compile(r"(?<!\w)" + re.escape(rule.pattern) + r"(?!\w)", re.IGNORECASE)


def _rules(community_id: int) -> list[WatchRule]:
    return list(db.session.scalars(select(WatchRule).where(
        WatchRule.active.is_(True), or_(WatchRule.community_id.is_(None), WatchRule.community_id == community_id))
        .order_by(WatchRule.action, WatchRule.id)))  # "block" sorts before "hold"


def _settings_row(community_id: int | None) -> ModerationSettings | None:
    cond = ModerationSettings.community_id.is_(None) if community_id is None else \
        ModerationSettings.community_id == community_id
    return db.session.scalar(select(ModerationSettings).where(cond))


def confidential_words(community_id: int) -> list[str]:
    """The confidential words to warn about in a community: the site-wide list, then the community's own.
    Raises nothing."""
    words = []
    for row in (_settings_row(None), _settings_row(community_id)):
        if row is not None:
            words += [w.strip() for w in (row.confidential_words or "").splitlines() if w.strip()]
    return words


def externals_can_read(community: Community) -> bool:
    """Open communities, and any community with an external member."""
    if community.visibility == Visibility.OPEN:
        return True
    return bool(db.session.scalar(select(exists().where(
        Membership.community_id == community.id, Membership.user_id == User.id, User.kind != UserKind.EMPLOYEE))))


def _check_text(author, acc: access.CommunityAccess, text: str, confirm_sensitive: bool) -> str | None:
    """The shared part of check_post/check_comment. Returns a hold reason or None."""
    community = acc.community
    hold = None
    for rule in _rules(community.id):
        pattern = _compile(rule)
        if pattern is None or not pattern.search(text):
            continue
        if rule.action == "block":
            message = rule.public_message or "This text contains words that are not allowed here."
            raise ValidationError({"body": f"Not posted: {message}"})
        if hold is None:
            hold = f"Watched {'pattern' if rule.is_regex else 'word'} “{rule.pattern}”"
    days = current_app.config.get("NEW_ACCOUNT_DAYS", DEFAULT_NEW_ACCOUNT_DAYS)
    max_links = current_app.config.get("NEW_ACCOUNT_MAX_LINKS", DEFAULT_NEW_ACCOUNT_MAX_LINKS)
    if not author.is_staff and author.created_at and author.created_at > clock.utcnow() - timedelta(days=days):
        links = count_links(text)
        if links > max_links:
            raise ValidationError({"body": f"New accounts may include at most {plural(max_links, 'link')} "
                                           f"(you have {links}). "
                                           f"This limit ends {days} days after you joined."})
    if not confirm_sensitive and externals_can_read(community):
        found = sensitive_findings(text, confidential_words(community.id))
        if found:
            raise ValidationError({"confirm_sensitive":
                                   "This looks like it contains " + ", ".join(found) + ". Customers or partners "
                                   "can read this community. Change the text, or tick the box to post it anyway."})
    if acc.can_moderate:
        return None
    return hold


def check_post(author, acc: access.CommunityAccess, title: str, body: str, *,
               confirm_sensitive: bool = False) -> str | None:
    """Run the pre-moderation rules on a new post. Returns why it is held (None: publish it).
    Raises ValidationError ("body": blocked or too many links; "confirm_sensitive": data warning)."""
    held = _check_text(author, acc, f"{title}\n{body}", confirm_sensitive)
    if held or acc.can_moderate or not author.is_external:
        return held
    row = _settings_row(acc.community.id)
    first_n = row.hold_first_posts if row else 0
    if first_n:
        published = db.session.scalar(select(func.count()).select_from(Post).where(
            Post.author_id == author.id, Post.community_id == acc.community.id, Post.held_at.is_(None))) or 0
        if published < first_n:
            return f"One of the first {first_n} posts of a new external account"
    return None


def check_comment(author, pacc: access.PostAccess, body: str, *, confirm_sensitive: bool = False) -> str | None:
    """Like check_post, for a comment on a post."""
    return _check_text(author, pacc.community, body, confirm_sensitive)


# --- rules and settings -------------------------------------------------------------------

def _scope(actor, slug: str | None) -> access.CommunityAccess | None:
    """None for the global scope (the social team and admins); the community access otherwise
    (its managers)."""
    if slug is None:
        access.require_staff(actor)
        return None
    return access.community_for(actor, slug, "manage")


def rules(viewer, slug: str | None) -> list[WatchRule]:
    """Every rule of the scope, active first. Forbidden/NotFound as for managing it."""
    acc = _scope(viewer, slug)
    cond = WatchRule.community_id.is_(None) if acc is None else WatchRule.community_id == acc.community.id
    return list(db.session.scalars(select(WatchRule).where(cond).order_by(WatchRule.active.desc(), WatchRule.id)))


def add_rule(actor, slug: str | None, pattern: str, action: str, public_message: str = "", *,
             is_regex: bool = False, ip: str | None = None) -> WatchRule:
    """Add a watched word or pattern. Raises ValidationError, Forbidden, NotFound."""
    acc = _scope(actor, slug)
    pattern = (pattern or "").strip()
    errors = {}
    if not pattern:
        errors["pattern"] = "Enter a word, phrase or pattern."
    elif len(pattern) > 300:
        errors["pattern"] = "Use at most 300 characters."
    elif is_regex:
        try:
            re.compile(pattern)
        except re.error as exc:
            errors["pattern"] = f"This is not a valid regular expression: {exc}."
    if action not in ACTIONS:
        errors["action"] = "Choose block or hold."
    public_message = " ".join((public_message or "").split())[:300]
    if action == "block" and not public_message:
        errors["public_message"] = "Say what the author is told when the post is refused."
    if errors:
        raise ValidationError(errors)
    rule = WatchRule(community_id=acc.community.id if acc else None, pattern=pattern, is_regex=bool(is_regex),
                     action=action, public_message=public_message, active=True, created_by_id=actor.id,
                     created_at=clock.utcnow())
    db.session.add(rule)
    db.session.flush()
    audit.record(actor, "watch_rule.add", "watch_rule", rule.id, ip=ip,
                 after={"pattern": pattern, "regex": rule.is_regex, "action": action,
                        "community_id": rule.community_id, "message": public_message})
    db.session.commit()
    return rule


def set_rule_active(actor, rule_id: int, active: bool, *, ip: str | None = None) -> WatchRule:
    """Switch a rule off or on again (rules are never deleted)."""
    rule = db.session.get(WatchRule, rule_id) if isinstance(rule_id, int) else None
    if rule is None:
        raise NotFound("No such rule.")
    if rule.community_id is None:
        access.require_staff(actor)
    else:
        access.community_by_id_for(actor, rule.community_id, "manage")
    if rule.active != active:
        audit.record(actor, "watch_rule.enable" if active else "watch_rule.disable", "watch_rule", rule.id,
                     before={"active": rule.active}, after={"active": active}, ip=ip)
        rule.active = active
    db.session.commit()
    return rule


def settings_for(viewer, slug: str | None) -> ModerationSettings:
    """The scope's settings (a transient default row when none was saved)."""
    acc = _scope(viewer, slug)
    row = _settings_row(acc.community.id if acc else None)
    return row or ModerationSettings(community_id=acc.community.id if acc else None, hold_first_posts=0,
                                     confidential_words="")


def save_settings(actor, slug: str | None, *, hold_first_posts, confidential_words: str,
                  ip: str | None = None) -> ModerationSettings:
    """Change the scope's settings. hold_first_posts only applies to communities."""
    acc = _scope(actor, slug)
    n = inputs.as_int(hold_first_posts or 0, "hold_first_posts", low=0, high=HOLD_MAX,
                      message=f"Choose a whole number from 0 to {HOLD_MAX}.")
    words = "\n".join(w.strip() for w in (confidential_words or "").splitlines() if w.strip())
    if len(words) > 5000:
        raise ValidationError({"confidential_words": "Use at most 5,000 characters."})
    community_id = acc.community.id if acc else None
    row = _settings_row(community_id)
    if row is None:
        row = ModerationSettings(community_id=community_id, hold_first_posts=0, confidential_words="")
        db.session.add(row)
        db.session.flush()
    before = {"hold_first_posts": row.hold_first_posts, "confidential_words": row.confidential_words}
    row.hold_first_posts = n if acc else 0
    row.confidential_words = words
    audit.record(actor, "moderation_settings.change", "community" if acc else "site", community_id, ip=ip,
                 before=before, after={"hold_first_posts": row.hold_first_posts, "confidential_words": words})
    db.session.commit()
    return row
