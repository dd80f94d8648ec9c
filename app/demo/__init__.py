"""The demo organisation (Acme Outdoor) that `make run` loads into an empty database.

  organisation.py  people, departments, communities, and the order of everything (`seed`)
  content.py       the posts, threads, votes and official answers, as data
  experts.py       expert links, notes and waiting answer requests
  insight.py       months of back-dated activity for the management dashboard (bulk rows)
  chat.py          today's live discussions, through the chat service
  moderation.py    reports, decisions and the audit history, through the moderation services
  searches.py      saved searches with alerts

Everything except the back-dated history is made through the services, so the demo obeys the
product's rules. The password of every demo account is DEMO_PASSWORD.
"""
from app.demo.organisation import DEMO_PASSWORD, has_data, seed

__all__ = ["DEMO_PASSWORD", "has_data", "seed"]
