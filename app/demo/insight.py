"""Six months of history for the insight dashboards, so they tell a story:

- the pilot: the social team, Customer Service and a few customers start in Customer Ideas,
  Returns & Service and the IT Helpdesk; the other communities open over the following weeks
  and employees join in waves (participation climbs from about a fifth to two thirds);
- the summer holidays dip in late July and August;
- customers waited days for an answer at first; since the experts were linked to topics
  (seven weeks ago) most questions get an expert answer within hours;
- the R&D Innovation Lab (opened in week 10) brings departments together: more and more
  threads have people of two or more departments;
- people searched for a size chart and found nothing until the Returns team wrote one
  (week 15); "return label" is still not found.

Called at the end of app.demo.organisation. Bulk-made for speed (a few seconds): posts and comments
as ORM objects (so the search index hears of them), votes, status changes, chat messages,
escalations and the search log as plain inserts, every counter set as the services would.
Deterministic (its own random generator), and it ends with a full rollup.

Why not through the services: every row here is history, back-dated up to 26 weeks, and the
services (posts.create, comments.add, ideas.toggle_vote, ideas.change_status, chat, search,
experts' escalation job) stamp clock.utcnow(), commit and notify per call. The services' own
pieces are reused where they do not stamp a time: markup.to_html for bodies, posts.hot_score for
the hot rank, insight.rollup at the end.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update

from app import clock
from app.extensions import db
from app.models import (
    ChatMessage,
    Comment,
    Community,
    Escalation,
    ExpertAssignment,
    IdeaStatus,
    MemberRole,
    Membership,
    Post,
    PostKind,
    SearchLog,
    StatusChange,
    Topic,
    User,
    UserKind,
    Visibility,
    Vote,
)
from app.services import insight
from app.services.content.posts import hot_score
from app.services.platform import markup

WEEKS = 26
PILOT = {"customer-ideas", "returns-service", "it-helpdesk"}
OPENED = {"sustainability": 3, "logistics-hub": 4, "marketing-brand": 5, "people-culture": 5,
          "partner-network": 6, "beta-program": 8, "sales-excellence": 9, "innovation-lab": 10}
FIRST_EMPLOYEES = {"sofia", "ada", "anna", "ines", "olivia", "xena", "bram", "farid", "sam"}
SUMMER = (datetime(2026, 7, 20), datetime(2026, 8, 17))

SUBJECTS = ["tent", "backpack", "sleeping bag", "rain jacket", "hiking boots", "camping stove", "trail poles",
            "water filter", "headlamp", "down vest"]


class Bank:
    """What a kind of community talks about: subjects, titles per post kind, bodies, chat lines."""

    def __init__(self, subjects, ideas, questions, discussions, bodies, chats):
        self.subjects, self.bodies, self.chats = subjects, bodies, chats
        self.titles = {PostKind.IDEA: ideas, PostKind.QUESTION: questions, PostKind.DISCUSSION: discussions}


# Communities customers and partners read: the shop's products, the web shop, warranty.
CUSTOMER = Bank(
    SUBJECTS,
    ["A repair kit for the {s}", "Show the weight of the {s} in the web shop", "A lighter {s} for kids",
     "Recycled fabric for the {s}", "A two-year warranty on the {s}", "Spare parts for the {s} online",
     "A rental option for the {s}", "A colour that is easy to find for the {s}",
     "Video instructions for the {s}", "A trade-in scheme for the old {s}"],
    ["How do I wash the {s}?", "Where can I find spare parts for the {s}?",
     "Is the {s} covered by the warranty after a fall?", "Which size of {s} should I take?",
     "Can I return a used {s}?", "How long does a repair of the {s} take?",
     "Does the {s} fit in the 45 l backpack?", "What is the packed size of the {s}?"],
    ["Lessons from the {s} test week", "Customer feedback on the {s} this month",
     "Packaging of the {s}: what we learned", "Stock levels of the {s} before the holidays"],
    ["This came up several times this month, so I write it down here.",
     "Any experience with this? Photos welcome.",
     "Short version: it would save us and our customers a lot of time.",
     "I looked for an answer on the web shop but could not find one."],
    ["Thanks for the quick help earlier.", "Is the {s} back in stock anywhere?", "Just back from a trip with the {s}: great.",
     "Does anyone have tips for drying the {s}?", "Which {s} do you take for a weekend in the hills?",
     "The store in Utrecht helped me with the {s} today, very friendly."])
# Internal teams working on the products (logistics, marketing, R&D, sales).
TEAM = Bank(
    SUBJECTS,
    ["A repair kit for the {s}", "A lighter {s} for kids", "Recycled fabric for the {s}",
     "Spare parts for the {s} in every store", "Video instructions for the {s}", "One supplier less for the {s}"],
    ["Who owns the product data of the {s}?", "Where is the spec sheet of the {s}?",
     "When does the new {s} arrive in the warehouse?", "Do we have test results for the {s}?",
     "Which supplier makes the {s}?"],
    ["Lessons from the {s} test week", "Customer feedback on the {s} this month",
     "Packaging of the {s}: what we learned", "Planning the autumn campaign for the {s}",
     "Stock levels of the {s} before the holidays", "Training for the new {s} range"],
    ["We talked about this in the team and want to hear what you think.",
     "This came up several times this month, so I write it down here.",
     "Short version: it would save us a lot of time."],
    ["Has anyone seen the new numbers for the {s}?", "The samples of the {s} arrived.",
     "Reminder: the {s} review moves to 15:00.", "Who has the latest slides on the {s}?",
     "Nice result on the {s} survey this week!", "The customer from this morning sent a thank-you note about the {s}."])
IT = Bank(
    ["laptop", "VPN", "printer", "password manager", "video call set-up", "shared drive", "work phone", "second screen"],
    ["A self-service reset for the {s}", "A loan {s} at the service desk", "A short guide to the {s} on the intranet",
     "Automatic updates for the {s}"],
    ["How do I set up the {s}?", "Who can give me access to the {s}?", "My {s} stopped working: what now?",
     "Can I get a second {s}?", "Is the {s} supported at home?"],
    ["Planned maintenance of the {s}", "What we learned from the {s} outage"],
    ["It happened twice this week, so I write it down here.", "Any experience with this?",
     "The service desk asked me to post it here so others find the answer."],
    ["Is the {s} down for anyone else?", "Thanks for fixing the {s} so quickly!", "The {s} works again.",
     "Reminder: the {s} update runs tonight.", "Where do I find the guide for the {s}?"])
PEOPLE = Bank(
    ["onboarding day", "mentoring programme", "team offsite", "learning budget", "wellbeing week", "bike lease"],
    ["A buddy for every newcomer on the {s}", "A feedback round after the {s}", "Open the {s} to part-timers",
     "Make the {s} easier to find on the intranet"],
    ["Who organises the {s}?", "How do I sign up for the {s}?", "Is the {s} also for interns?"],
    ["What we learned from the {s}", "Ideas for the next {s}"],
    ["We talked about this in the team and want to hear what you think.", "Any experience with this?"],
    ["Who joins the {s}?", "Thanks for organising the {s}!", "Photos of the {s} are on the shared drive.",
     "The sign-up for the {s} closes on Friday."])


def _bank(slug: str, community) -> Bank:
    """The IT Helpdesk talks about IT, People & Culture about people; the other internal
    communities about the products; customer-facing ones about the shop."""
    if slug == "it-helpdesk":
        return IT
    if slug == "people-culture":
        return PEOPLE
    return TEAM if community.visibility == Visibility.INTERNAL else CUSTOMER


COMMENTS = ["Good point, thanks for raising it.", "We see the same in our team.", "I can help with this one.",
            "Here is what worked for us last season.", "Agreed — let's try it for a month.",
            "Could you add a photo?", "I checked with the warehouse: it is possible.",
            "That would help a lot of customers.", "We had a similar question last week."]
ANSWERS = ["Thanks for asking! Here is how it works: we take care of it within a week.",
           "Yes — send it to our repair desk with the form from your account page.",
           "Good question. The short answer is yes; the details are in the care guide.",
           "We checked: it fits. Use the side straps for the best result."]
RESPONSES = {IdeaStatus.UNDER_REVIEW: "Thanks! The product team looks at this now.",
             IdeaStatus.PLANNED: "We will build this: it is planned for the next season.",
             IdeaStatus.DONE: "Done: it is live now. Thanks for the idea!",
             IdeaStatus.DECLINED: "We looked at it carefully but cannot do it now; here is why."}
SEARCHES = [("tent repair", 6), ("return policy", 4), ("warranty", 5), ("size chart", 0), ("return label", 0),
            ("packed size", 3), ("vpn", 2), ("holiday planning", 2), ("recycled fabric", 4), ("spare poles", 0),
            ("invoice copy", 0), ("onboarding", 3)]


def _adoption(week: int) -> float:
    """Share of the onboarded people who act in a given week: climbs as the platform settles."""
    return 0.35 + 0.45 / (1 + math.exp(-(week - 9) / 3))


def seed(by_local: dict[str, User]) -> str:
    """Back-date the demo people, communities, memberships and topics, and write six months of
    activity (module docstring). Commits. Returns a one-line summary; raises nothing of its own."""
    rng = random.Random(2026)
    now = clock.utcnow()
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    start = monday - timedelta(weeks=WEEKS)
    experts_since = now - timedelta(days=50)
    handles = {u.id: local for local, u in by_local.items()}
    people = {u.id: u for u in by_local.values()}
    communities = {c.slug: c for c in db.session.scalars(select(Community))}
    opened = {slug: start + timedelta(weeks=OPENED.get(slug, 0), hours=9) for slug in communities}

    # --- when people joined -----------------------------------------------------------------
    joined: dict[int, datetime] = {}
    for uid, user in people.items():
        local = handles[uid]
        if user.kind == UserKind.EMPLOYEE:
            weeks = 0 if local in FIRST_EMPLOYEES else rng.choice([1, 2, 3, 4, 5, 6, 8, 10])
        elif user.kind == UserKind.CUSTOMER:
            weeks = rng.randint(0, 18)
        else:
            weeks = rng.randint(5, 12)
        joined[uid] = start + timedelta(weeks=weeks, days=rng.randint(0, 4), hours=rng.randint(8, 17))
    # back-dating existing rows: no service changes created_at
    for uid, moment in joined.items():
        db.session.execute(update(User).where(User.id == uid).values(created_at=moment))
    # some people only read (lurkers), some only vote, some drop by now and then, the others
    # are regulars: (weight as a writer, weight as a voter)
    tiers = {"lurker": (0.0, 0.0), "voter": (0.0, 1.0), "occasional": (0.3, 0.3), "regular": (1.0, 1.0)}
    tier = {uid: "regular" if handles[uid] in FIRST_EMPLOYEES else
            rng.choice(["lurker", "voter", "occasional", "regular", "regular"]) for uid in people}
    engagement = {uid: tiers[tier[uid]][0] for uid in people}
    voting = {uid: tiers[tier[uid]][1] for uid in people}
    for slug, community in communities.items():
        db.session.execute(update(Community).where(Community.id == community.id).values(created_at=opened[slug]))
        db.session.execute(update(Topic).where(Topic.community_id == community.id).values(created_at=opened[slug]))
    members: dict[int, list[int]] = defaultdict(list)
    staff: dict[int, list[int]] = defaultdict(list)
    for m in db.session.scalars(select(Membership)):
        since = max(joined.get(m.user_id, start), opened[next(s for s, c in communities.items() if c.id == m.community_id)])
        db.session.execute(update(Membership).where(Membership.id == m.id).values(
            created_at=since + timedelta(hours=rng.randint(1, 48))))
        members[m.community_id].append(m.user_id)
        if m.role in (MemberRole.MANAGER, MemberRole.MODERATOR):
            staff[m.community_id].append(m.user_id)
    topics: dict[int, list[Topic]] = defaultdict(list)
    for t in db.session.scalars(select(Topic)):
        topics[t.community_id].append(t)
    experts_of: dict[int, list[int]] = defaultdict(list)
    for a in db.session.scalars(select(ExpertAssignment).where(ExpertAssignment.removed_at.is_(None))):
        experts_of[a.topic_id].append(a.user_id)
    db.session.commit()

    def active_people(community_id: int, moment: datetime) -> list[int]:
        return [u for u in members[community_id] if joined[u] <= moment - timedelta(hours=2) and engagement[u]]

    def someone(pool: list[int], weights=None) -> int:
        weights = weights or engagement
        return rng.choices(pool, weights=[weights[u] for u in pool])[0]

    def department(uid: int):
        user = people[uid]
        return user.department_id if user.kind == UserKind.EMPLOYEE else None

    html_cache: dict[str, str] = {}

    def html(text: str) -> str:
        if text not in html_cache:
            html_cache[text] = markup.to_html(text)
        return html_cache[text]

    new_posts: list[tuple[Post, dict]] = []
    votes, changes, chats, searches, escalations = [], [], [], [], []
    voted: set[tuple[int, int]] = set()
    used_titles: set[str] = set()
    said: set[tuple[int, str]] = set()  # (community id, chat line)
    for week in range(WEEKS):
        week_start = start + timedelta(weeks=week)
        holiday = SUMMER[0] <= week_start < SUMMER[1]
        rate = _adoption(week) * (0.55 if holiday else 1.0)
        cross = min(0.6, 0.12 + 0.04 * max(0, week - 8))       # will to answer other departments
        for slug, community in communities.items():
            if opened[slug] > week_start + timedelta(days=6):
                continue
            cid = community.id
            here = active_people(cid, week_start + timedelta(days=3))
            voters = [u for u in members[cid] if joined[u] <= week_start and voting[u]]
            if not here:
                continue
            busy = 1.6 if slug in PILOT else (0.5 if slug == "sales-excellence" else 1.0)
            n_posts = max(0, round(len(here) * rate * busy * 0.22 * rng.uniform(0.6, 1.3)))
            for _ in range(n_posts):
                author = someone(here)
                external = people[author].kind != UserKind.EMPLOYEE
                kind = rng.choices([PostKind.IDEA, PostKind.QUESTION, PostKind.DISCUSSION],
                                   weights=[4, 5, 1] if external else [2, 3, 3])[0]
                bank = _bank(slug, community)
                title = rng.choice(bank.titles[kind]).format(s=rng.choice(bank.subjects))
                if title in used_titles:
                    continue
                used_titles.add(title)
                created = week_start + timedelta(days=rng.randint(0, 6), hours=rng.randint(7, 19),
                                                 minutes=rng.randint(0, 59))
                if created >= now - timedelta(days=2):
                    continue
                topic = rng.choice(topics[cid]) if topics[cid] else None
                body = rng.choice(bank.bodies)
                post = Post(community_id=cid, author_id=author, kind=kind, title=title, body=body,
                            body_html=html(body), status=IdeaStatus.NEW if kind == PostKind.IDEA else None,
                            vote_count=0, comment_count=0, view_count=rng.randint(3, 40), hot=0.0,
                            created_at=created, last_activity_at=created, topics=[topic] if topic else [])
                plan = {"comments": [], "answer": None, "accept": False}
                # the organisation's answer: slow before the experts, fast since
                responders = [u for u in (experts_of.get(topic.id, []) if topic and created >= experts_since else [])
                              if u != author and engagement[u]] or [u for u in staff[cid] if u != author]
                skip = 0.12 if created < experts_since else 0.04
                if kind != PostKind.DISCUSSION and responders and rng.random() > skip:
                    median = 8 if created >= experts_since else max(14, 70 - 2.5 * week)
                    wait = timedelta(hours=min(24 * 12, rng.lognormvariate(math.log(median), 0.8)))
                    plan["answer"] = (rng.choice(responders), created + wait)
                    plan["accept"] = kind == PostKind.QUESTION and rng.random() < 0.55
                # comments from readers, more often across departments as time goes by
                readers = [u for u in here if u != author]
                same = [u for u in readers if department(u) is not None and department(u) == department(author)]
                for _c in range(rng.choices([0, 1, 2, 3, 4], weights=[2, 3, 3, 2, 1])[0]):
                    pool = same if same and rng.random() > cross else readers
                    if not pool:
                        break
                    plan["comments"].append((someone(pool), created + timedelta(hours=rng.uniform(1, 72))))
                new_posts.append((post, plan))
            # votes on this community's ideas of the last weeks
            recent = [p for p, _plan in new_posts[-40:] if p.community_id == cid and p.kind == PostKind.IDEA
                      and week_start - timedelta(weeks=3) <= p.created_at < week_start + timedelta(days=7)]
            for idea in recent:
                picks = rng.randint(0, max(1, round(len(voters) * rate * 0.3))) if voters else 0
                for voter in {someone(voters, voting) for _v in range(picks)}:
                    when = max(idea.created_at, week_start) + timedelta(hours=rng.randint(1, 120))
                    if (idea, voter) in voted or when >= now or joined[voter] > when:
                        continue
                    voted.add((idea, voter))
                    votes.append((idea, voter, when))
            # the live channel
            for _m in range(round(len(here) * rate * (0.35 if slug in PILOT else 0.12) * rng.uniform(0.5, 1.2))):
                when = week_start + timedelta(days=rng.randint(0, 4), hours=rng.randint(8, 17), minutes=rng.randint(0, 59))
                bank = _bank(slug, community)
                text = rng.choice(bank.chats).format(s=rng.choice(bank.subjects))
                if when < now - timedelta(days=1) and (cid, text) not in said:  # nobody repeats a line
                    said.add((cid, text))
                    chats.append({"community_id": cid, "author_id": someone(here), "body": text,
                                  "body_html": html(text), "reply_count": 0, "created_at": when})
        # searches: fewer misses as content grows; the size chart was written in week 15
        for _s in range(round(25 + 60 * rate)):
            query, found = rng.choice(SEARCHES)
            if query == "size chart" and week >= 15:
                found = 4
            who = rng.choice([u for u in people if joined[u] <= week_start + timedelta(days=6)] or list(people))
            when = week_start + timedelta(days=rng.randint(0, 6), hours=rng.randint(7, 21), minutes=rng.randint(0, 59))
            if when < now:
                searches.append({"user_id": who, "query": query, "result_count": found, "filters": {},
                                 "created_at": when})

    # --- posts and comments (ORM: the search index hears of them) -----------------------------
    for post, _plan in new_posts:
        db.session.add(post)
    db.session.flush()
    made_comments = []
    for post, plan in new_posts:
        thread = sorted(plan["comments"], key=lambda c: c[1])
        answer = plan["answer"]
        if answer and answer[1] < now - timedelta(hours=1):
            thread.append((answer[0], answer[1], True))
        for item in sorted(thread, key=lambda c: c[1]):
            who, when = item[0], item[1]
            if when >= now - timedelta(hours=1):
                continue
            text = rng.choice(ANSWERS) if len(item) > 2 else rng.choice(COMMENTS)
            comment = Comment(post_id=post.id, author_id=who, body=text, body_html=html(text), like_count=0,
                              created_at=when)
            made_comments.append((post, comment, len(item) > 2 and plan["accept"]))
            db.session.add(comment)
    db.session.flush()

    # --- ideas: official responses through the funnel -----------------------------------------
    for post, plan in new_posts:
        if post.kind != PostKind.IDEA or not plan["answer"]:
            continue
        actor, when = plan["answer"]
        path = [IdeaStatus.UNDER_REVIEW]
        roll = rng.random()
        if roll < 0.35:
            path.append(IdeaStatus.PLANNED)
            if rng.random() < 0.5:
                path.append(IdeaStatus.DONE)
        elif roll < 0.55:
            path.append(IdeaStatus.DECLINED)
        previous = IdeaStatus.NEW
        for status in path:
            if when >= now:
                break
            changes.append({"post_id": post.id, "from_status": previous.value, "to_status": status.value,
                            "response": RESPONSES[status], "response_html": html(RESPONSES[status]),
                            "actor_id": actor, "created_at": when})
            post.status = status
            post.first_official_response_at = post.first_official_response_at or when
            post.last_activity_at = max(post.last_activity_at, when)
            previous = status
            when += timedelta(days=rng.uniform(3, 21))

    # --- counters, accepted answers, escalations ----------------------------------------------
    counts: dict[int, int] = defaultdict(int)
    for post, comment, accepted in made_comments:
        counts[post.id] += 1
        post.last_activity_at = max(post.last_activity_at, comment.created_at)
        if accepted and post.accepted_comment_id is None:
            post.accepted_comment_id = comment.id
    vote_counts: dict[int, int] = defaultdict(int)
    for idea, _voter, _when in votes:
        vote_counts[idea.id] += 1
    for post, plan in new_posts:
        post.comment_count = counts[post.id]
        post.vote_count = vote_counts[post.id]
        post.hot = hot_score(post.vote_count, post.comment_count, post.created_at)
        if post.kind == PostKind.DISCUSSION:
            continue
        due = post.created_at + timedelta(hours=48)
        answered = plan["answer"][1] if plan["answer"] and plan["answer"][1] < now - timedelta(hours=1) else None
        if due < now and (answered is None or answered > due):
            escalations.append({"post_id": post.id, "community_id": post.community_id, "due_at": due,
                                "posted_at": post.created_at,
                                "escalated_at": due + timedelta(minutes=10), "notified": 0,
                                "resolved_at": answered})
    db.session.flush()
    # back-dated history in bulk: the services stamp clock.utcnow() (module docstring)
    if votes:
        db.session.execute(insert(Vote), [{"post_id": i.id, "user_id": v, "created_at": w} for i, v, w in votes])
    chats.sort(key=lambda c: c["created_at"])  # ids in time order: the channel reads by id
    for table, rows in ((StatusChange, changes), (ChatMessage, chats), (SearchLog, searches),
                        (Escalation, escalations)):
        if rows:
            db.session.execute(insert(table), rows)
    db.session.commit()

    insight.rollup(full=True)
    return (f"insight history: {len(new_posts)} posts, {len(made_comments)} comments, {len(votes)} votes, "
            f"{len(chats)} chat messages, {len(searches)} searches over {WEEKS} weeks")
