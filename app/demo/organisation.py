"""`flask seed-demo`: a believable, deterministic demo organisation (Acme Outdoor).

Everything is created through the services, as a real admin and managers would, so the demo
obeys the same rules as the product. Every demo account uses the password DEMO_PASSWORD.
Later features extend `seed()` with their own content (posts, experts, chat, ...).
"""
from __future__ import annotations

import io
import random
from datetime import timedelta

from flask import current_app
from PIL import Image, ImageDraw
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app import clock
from app.demo import chat as demo_chat
from app.demo import experts as demo_experts
from app.demo import insight as demo_insight
from app.demo import moderation as demo_moderation
from app.demo import searches as demo_searches
from app.demo.content import POSTS
from app.errors import ValidationError
from app.extensions import db
from app.models import Community, Post, PostKind, Topic, User, UserKind
from app.services.community import communities, departments, invitations
from app.services.content import asks, comments, ideas, posts
from app.services.people import accounts, people
from app.services.platform import jobs, settings

DEMO_PASSWORD = "kring-demo-2026"

DEPARTMENTS = ["Marketing", "Sales", "Logistics", "HR", "Customer Service", "R&D", "IT"]

# email local part, name, department, job title, expertise, languages
EMPLOYEES = [
    ("ada", "Ada Visser", "IT", "Platform administrator", "identity, security, kring", "Dutch, English"),
    ("sofia", "Sofia Jansen", "Marketing", "Head of social business", "community management, social media, policy", "English, Dutch, Spanish"),
    ("marc", "Marc de Vries", "Sales", "Managing director", "strategy, key accounts", "Dutch, English, German"),
    ("anna", "Anna Bakker", "Customer Service", "Customer care lead", "returns, warranty, customer experience", "Dutch, English"),
    ("ben", "Ben Okafor", "Logistics", "Warehouse manager", "warehousing, lean, forklifts", "English"),
    ("chloe", "Chloé Martin", "Marketing", "Brand manager", "brand, campaigns, copywriting", "French, English"),
    ("daan", "Daan Smit", "R&D", "Materials engineer", "textiles, recycled materials, testing", "Dutch, English"),
    ("eva", "Eva Lindqvist", "HR", "People partner", "onboarding, learning, wellbeing", "Swedish, English"),
    ("farid", "Farid Haddad", "IT", "Service desk engineer", "laptops, accounts, networking", "Arabic, English, Dutch"),
    ("greta", "Greta Müller", "Sales", "Key account manager", "retail, tenders, pricing", "German, English"),
    ("hugo", "Hugo Peeters", "Logistics", "Transport planner", "transport, customs, route planning", "Dutch, French"),
    ("ines", "Inês Costa", "Customer Service", "Service agent", "repairs, spare parts, returns", "Portuguese, English"),
    ("jonas", "Jonas Weber", "R&D", "Product developer", "prototyping, CAD, tents", "German, English"),
    ("kim", "Kim de Boer", "Marketing", "Social media specialist", "social media, video, influencers", "Dutch, English"),
    ("lars", "Lars Nielsen", "Sales", "Partner manager", "partners, co-marketing, distribution", "Danish, English"),
    ("mila", "Mila Novak", "HR", "Recruiter", "recruitment, employer branding", "Croatian, English"),
    ("noah", "Noah Janssen", "IT", "Data analyst", "analytics, dashboards, sql", "Dutch, English"),
    ("olivia", "Olivia Brown", "Customer Service", "Quality specialist", "complaints, quality, root cause analysis", "English"),
    ("pablo", "Pablo García", "Logistics", "Packaging engineer", "packaging, sustainability, cardboard", "Spanish, English"),
    ("quinn", "Quinn Hendriks", "R&D", "Sustainability lead", "sustainability, circularity, lca", "Dutch, English"),
    ("rosa", "Rosa Kuipers", "Sales", "Sales representative", "outdoor retail, webshops", "Dutch, English"),
    ("sam", "Sam Vermeulen", "IT", "Developer", "webshop, apis, python", "Dutch, English"),
    ("tess", "Tess van Dijk", "Marketing", "Content marketer", "content, seo, newsletters", "Dutch, English"),
    ("umar", "Umar Siddiqui", "Logistics", "Inventory analyst", "inventory, forecasting", "Urdu, English"),
    ("vera", "Vera Smits", "HR", "Learning coordinator", "learning, mentoring", "Dutch"),
    ("wout", "Wout Claes", "R&D", "Test engineer", "testing, waterproofing, durability", "Dutch, French"),
    ("xena", "Xena Papadopoulos", "Customer Service", "Chat support agent", "live chat, webshop orders", "Greek, English"),
    ("yara", "Yara El Amrani", "Sales", "Inside sales", "b2b orders, pricing", "Dutch, Arabic, English"),
    ("zoe", "Zoë Jacobs", "Marketing", "Event manager", "events, trade fairs", "Dutch, English"),
    ("bram", "Bram Mertens", "Customer Service", "Returns coordinator", "returns, refunds", "Dutch"),
]

CUSTOMERS = [
    ("carla", "Carla Gómez", "Gómez Bikes"), ("david", "David Chen", "Trailhead Outfitters"),
    ("emma", "Emma Wilson", None), ("finn", "Finn O'Brien", "Summit Scouts"),
    ("hanna", "Hanna Kowalski", None), ("ivan", "Ivan Petrov", "Alpine Club Sofia"),
    ("julia", "Julia Rossi", None), ("kai", "Kai Tanaka", "Camp Pacific"),
    ("lea", "Léa Dubois", None), ("mo", "Mo Adeyemi", "Urban Hikers"),
]

PARTNERS = [
    ("pieter", "Pieter Bakker", "Bakker Logistics"), ("sara", "Sara Lind", "Nordic Retail Group"),
    ("tom", "Tom Evans", "GreenPack Ltd"), ("uma", "Uma Rao", "Weave Textiles"),
    ("victor", "Victor Leclerc", "Leclerc Sports"),
]

# slug, name, visibility, description, topics, managers (emails), member rule
COMMUNITIES = [
    ("customer-ideas", "Customer Ideas", "open",
     "Tell us what would make our gear better. Vote on ideas from others; our product team answers every idea officially.",
     ["Product features", "Website and app", "Delivery", "Sustainability"], ["sofia", "anna"], "everyone"),
    ("returns-service", "Returns & Service", "open",
     "Questions about returns, warranty and repairs, answered by the people who handle them.",
     ["Returns", "Warranty", "Repairs"], ["anna"], "service"),
    ("sustainability", "Sustainability", "open",
     "How we make outdoor gear that lasts: materials, packaging, repair and recycling.",
     ["Packaging", "Materials", "Circularity"], ["quinn"], "green"),
    ("partner-network", "Partner Network", "private",
     "For our logistics, retail and material partners: onboarding, co-marketing and integration.",
     ["Onboarding", "Co-marketing", "Logistics integration"], ["lars"], "partners"),
    ("beta-program", "Product Beta Program", "private",
     "Early access for selected customers. Try prototypes and tell the R&D team what you think.",
     ["Beta feedback", "Release notes"], ["jonas"], "beta"),
    ("logistics-hub", "Logistics Hub", "internal",
     "Warehouse, transport and packaging: how goods get to our customers.",
     ["Warehousing", "Transport", "Packaging"], ["ben"], "Logistics"),
    ("marketing-brand", "Marketing & Brand", "internal",
     "Campaigns, social media and the brand guidelines.", ["Campaigns", "Social media", "Brand guidelines"],
     ["chloe"], "Marketing"),
    ("it-helpdesk", "IT Helpdesk", "internal",
     "Ask IT: laptops, accounts and software.", ["Laptops", "Access and accounts", "Software requests"],
     ["farid"], "all-employees"),
    ("people-culture", "People & Culture", "internal",
     "Onboarding, learning and wellbeing at Acme Outdoor.", ["Onboarding", "Learning", "Wellbeing"],
     ["eva"], "all-employees"),
    ("innovation-lab", "R&D Innovation Lab", "internal",
     "New materials, prototypes and patents. Everyone is welcome to bring ideas.",
     ["Materials", "Prototypes", "Patents"], ["daan"], "R&D"),
    ("sales-excellence", "Sales Excellence", "private",
     "Key accounts, pricing and tenders. Members only: figures shared here are confidential.",
     ["Key accounts", "Pricing", "Tenders"], ["greta"], "Sales"),
]


def has_data() -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(User)))


def _email(local: str, kind: str) -> str:
    return f"{local}@" + {"employee": "acme.example", "customer": "customer.example",
                          "partner": "partner.example"}[kind]


def seed() -> str:
    """Create the demo organisation. Returns a one-line summary. Refuses a non-empty database.

    The demo password is public, so its hashes use a cheaper PBKDF2 setting than real accounts
    (scrypt): loading 45 accounts then takes a second, not twenty."""
    if has_data():
        raise RuntimeError("the database already has people; demo data goes into an empty one")

    configured = current_app.config["PASSWORD_HASH_METHOD"]
    current_app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:20000"
    try:
        return _seed()
    finally:
        current_app.config["PASSWORD_HASH_METHOD"] = configured


def _seed() -> str:
    rng = random.Random(2026)

    admin, _ = accounts.create_admin("ada@acme.example", DEMO_PASSWORD, "Ada Visser")
    depts = {name: departments.create(admin, name) for name in DEPARTMENTS}

    by_local: dict[str, User] = {"ada": admin}
    for local, name, dept, title, expertise, languages in EMPLOYEES:
        user = by_local.get(local) or accounts.create_user(
            _email(local, "employee"), DEMO_PASSWORD, name, UserKind.EMPLOYEE)
        people.update_profile(user, job_title=title, department_id=depts[dept].id, expertise=expertise,
                              languages=languages,
                              bio=f"I work in {dept} as {title.lower()}. Ask me about {expertise.split(',')[0]}.")
        by_local[local] = user
    accounts.set_global_roles(admin, by_local["sofia"], is_admin=False, is_global_manager=True, is_management=False)
    accounts.set_global_roles(admin, by_local["marc"], is_admin=False, is_global_manager=False, is_management=True)

    for kind, rows in ((UserKind.CUSTOMER, CUSTOMERS), (UserKind.PARTNER, PARTNERS)):
        for local, name, organisation in rows:
            user = accounts.create_user(_email(local, kind.value), DEMO_PASSWORD, name, kind,
                                        organisation=organisation)
            people.update_profile(user, bio="Outdoor enthusiast." if kind == UserKind.CUSTOMER
                                  else f"Partner at {organisation}.", languages="English")
            by_local[local] = user

    sofia = by_local["sofia"]
    employees = [by_local[e[0]] for e in EMPLOYEES]
    customers = [by_local[c[0]] for c in CUSTOMERS]
    partners = [by_local[p[0]] for p in PARTNERS]
    for slug, name, visibility, description, topics, managers, rule in COMMUNITIES:
        community = communities.create(sofia, name, description, visibility, slug,
                                       allow_external_experts=(slug == "partner-network"))
        for topic in topics:
            communities.create_topic(sofia, slug, topic)
        for local in managers:
            communities.add_member(sofia, slug, by_local[local], "manager")
        manager_ids = {by_local[m].id for m in managers}
        members = [p for p in _members_for(rule, employees, customers, partners, rng)
                   if p.id not in manager_ids and p.id != sofia.id]
        for person in members:
            communities.add_member(sofia, slug, person)
        moderators = [p for p in members if p.kind == UserKind.EMPLOYEE][:1]
        for person in moderators:
            communities.set_role(sofia, slug, person.id, "moderator")
        if sofia.id not in manager_ids:
            communities.remove_member(sofia, slug, sofia.id)
        del community

    # A few things waiting for someone: join requests and an open invitation.
    communities.request_to_join(by_local["tess"], "partner-network", "I write the co-marketing newsletters.")
    communities.request_to_join(by_local["noah"], "sales-excellence", "I build the sales dashboards.")
    invitations.create(by_local["jonas"], "new.tester@customer.example", "customer", ["beta-program"],
                       "We would love your feedback on the new tent.")
    settings.set_value(admin, "open_signup", True)
    db.session.commit()
    n_posts = _seed_posts(by_local)
    demo_experts.seed(by_local)
    _seed_asks()
    demo_insight.seed(by_local)  # months of history first: the live conversations of today come after it
    demo_chat.seed(by_local)
    demo_moderation.seed(by_local)
    demo_searches.seed(by_local)
    return (f"Demo organisation loaded: {len(employees)} employees, {len(customers)} customers, "
            f"{len(partners)} partners, {len(COMMUNITIES)} communities, {n_posts} posts. Password for "
            f"every demo account: {DEMO_PASSWORD}")


def _seed_posts(by_local: dict[str, User]) -> int:
    """Posts, comments, votes, likes, official responses and a merged duplicate, spread over the
    past weeks (the clock is moved back for each, then restored). Notification jobs are run so
    people find their notifications waiting."""
    now = clock.utcnow()
    made: dict[str, int] = {}
    try:
        for slug, topic_names, kind, author, title, body, days, thread, voters, changes in POSTS:
            moment = now - timedelta(days=days, hours=3)
            clock.set_now(moment)
            community = db.session.scalar(select(Community).where(Community.slug == slug))
            topic_ids = list(db.session.scalars(select(Topic.id).where(
                Topic.community_id == community.id, Topic.name.in_(topic_names))))
            post = posts.create(by_local[author], slug, kind, title, body, topic_ids,
                                files=_demo_images(title))
            made[title] = post.id
            for i, voter in enumerate(voters):
                clock.set_now(moment + timedelta(hours=2 + i))
                ideas.toggle_vote(by_local[voter], post.id)
            for j, (who, text, replies, accepted) in enumerate(thread):
                clock.set_now(moment + timedelta(hours=5 + 7 * j))
                comment = comments.add(by_local[who], post.id, text)
                for k, (reply_by, reply_text, _more) in enumerate(replies):
                    clock.set_now(moment + timedelta(hours=6 + 7 * j + k))
                    comments.add(by_local[reply_by], post.id, reply_text, parent_id=comment.id)
                if accepted:
                    comments.accept(by_local[author], comment.id)
                if who != author:
                    comments.toggle_like(by_local[author], comment.id)
            for m, (actor, status, response) in enumerate(changes):
                clock.set_now(moment + timedelta(days=1 + 4 * m, hours=1))
                ideas.change_status(by_local[actor], post.id, status, response)
        clock.set_now(now - timedelta(days=8))
        ideas.change_status(by_local["anna"], made["Repair patches included with tents"], "duplicate",
                            "The same idea as the repair kit one: we merged the votes there.",
                            duplicate_of_id=made["A repair kit in every tent bag"])
    finally:
        clock.reset()
    jobs.drain(max_rounds=50)
    return len(made)


def _seed_asks() -> int:
    """The authors of the newest questions ask an expert of the topic to answer (one each)."""
    made = 0
    for post in db.session.scalars(select(Post).where(Post.kind == PostKind.QUESTION, Post.deleted_at.is_(None),
                                                      Post.author_id.isnot(None))
                                   .order_by(Post.created_at.desc()).limit(4)).all():
        for suggestion in asks.suggestions(post.author, post, limit=1):
            try:
                asks.ask(post.author, post.id, suggestion.person.handle)
                made += 1
            except ValidationError:
                db.session.rollback()
    return made


def _demo_images(title: str) -> list:
    """A generated picture for a couple of posts (the demo has no photos to ship)."""
    if title not in {"We removed 38 tonnes of plastic from our parcels", "First impressions of the Ultralight 2 prototype"}:
        return []

    img = Image.new("RGB", (960, 600), (33, 87, 198) if "plastic" in title else (29, 122, 70))
    draw = ImageDraw.Draw(img)
    for i in range(12):
        draw.rectangle([40 + i * 70, 420 - i * 25, 90 + i * 70, 560], fill=(255, 255, 255))
    draw.ellipse([700, 60, 880, 240], fill=(240, 180, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    buf.seek(0)
    name = "parcels.png" if "plastic" in title else "prototype.png"
    return [FileStorage(stream=buf, filename=name, content_type="image/png")]


def _members_for(rule: str, employees, customers, partners, rng: random.Random) -> list[User]:
    if rule == "everyone":
        return employees[3:20] + customers + partners[:2]
    if rule == "service":
        return [e for e in employees if e.department and e.department.name == "Customer Service"] \
            + rng.sample(customers, 6)
    if rule == "green":
        return rng.sample(employees, 10) + rng.sample(customers, 4) + partners[2:4]
    if rule == "partners":
        return [e for e in employees if e.department and e.department.name in {"Sales", "Logistics"}] + partners
    if rule == "beta":
        return [e for e in employees if e.department and e.department.name == "R&D"] + customers[:4]
    if rule == "all-employees":
        return employees
    return [e for e in employees if e.department and e.department.name == rule]
