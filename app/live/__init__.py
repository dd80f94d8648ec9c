"""Socket.IO: authenticate, authorize rooms through app.services.access, call services.

  handlers.py  connect/disconnect, join/leave, presence, typing, unknown events
  chat.py      the chat.* events of the live discussion (doors to app.services.chat)
  guard.py     the decorator every client event goes through (auth, size, rate, errors)
  manager.py   the Socket.IO client managers (Redis or in-process), control messages,
               replay fences, and the per-process live state with its upkeep loop
  rooms.py     server-side room control (disconnect a person or a browser, leave a community)
  presence.py  who is here now (in memory, or in Redis with expiry)
  limits.py    per-person rate limits of socket events (the `limits` library, Flask-Limiter's storage)
  patches.py   long-polling responses of at most 16 packets (what python clients decode)

Event names, rooms and payloads are listed in app/events.py.
"""
