"""The bad-input corpus and the route sweep shared by tests/platform/test_bad_input_corpus.py and
bench/bad_input.py (see the test module's docstring)."""
from __future__ import annotations

import re
from urllib.parse import quote

from werkzeug.routing import IntegerConverter

from app.setup import CleanMultiDict, KringRequest
from tests.conftest import login

SURROGATE = "\ud800"
BAD_VALUES = {
    "control": "a\x00b\x01\x08\x0b\x1b[31m\x7fc",  # NUL and other C0 controls (removed by the request class)
    "surrogate": SURROGATE,  # in a form or query string: the bytes %ED%A0%80 (not UTF-8)
    "int_2_64": str(2**64),
    "minus_one": "-1",
    "huge": "word " * 40_000,  # 200 KB
    "runs": "[" * 10_000 + " " + "*" * 10_000,  # the markdown parser's old worst cases
    "emoji_rtl": "\U0001F600 \u202eevil\u202c \u200fשלום\u200f \U0001F44D\U0001F3FD",
    "empty": "",
}
BAD_JSON = [b"[1,2,3]", b'{"body": 5}', b'{"body": 1e999999}', b"[" * 100_000 + b"]" * 100_000,
            b'{"body": "\\ud800"}', b'{"body": "a\\u0000b"}', b"{not json", b'{"id": 18446744073709551616}',
            b'{"body": {"body": {"body": []}}}', b'"just a string"', b"\xff\xfe"]
LONGEST_TEXT = 50_000  # the longest text any field accepts (a guideline's body)
SKIP = {"static", "chat.socketio_path"}
LAST = re.compile(r"signout|delete|remove|close|leave|disable|suspend|revoke|unaccept|restore")


class Recording(CleanMultiDict):
    """CleanMultiDict that notes every key a view asks for (into Recording.seen)."""

    seen: set[str] = set()

    def get(self, key, default=None, type=None):  # noqa: A002 - MultiDict's signature
        Recording.seen.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):  # noqa: A002
        Recording.seen.add(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        Recording.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        Recording.seen.add(key)
        return super().__contains__(key)


class RecordingRequest(KringRequest):
    parameter_storage_class = Recording


def encode(pairs: list[tuple[str, str]]) -> str:
    """application/x-www-form-urlencoded, with a lone surrogate sent as the bytes a browser
    cannot send but a crafted request can (%ED%A0%80)."""
    return "&".join(f"{quote(k)}={quote(v, safe='') if SURROGATE not in v else v.replace(SURROGATE, '%ED%A0%80')}"
                    for k, v in pairs)


def _path(rule, world, persona_user) -> str | None:
    place = world.places["open"]
    member = place.people["member"]
    values = {"slug": place.slug, "topic_slug": place.topic_slug, "post_id": place.post_id,
              "comment_id": place.comment_id, "message_id": place.message_id,
              "attachment_id": place.attachment_id, "target_type": "post", "target_id": place.post_id,
              "user_id": member.id, "handle": member.handle, "variant": "thumb", "table_id": "activity"}
    filled = {}
    for arg in rule.arguments:
        if arg in values:
            filled[arg] = values[arg]
        elif isinstance(rule._converters[arg], IntegerConverter):
            filled[arg] = 1
        else:
            filled[arg] = "x"
    try:
        return rule.build(filled, append_unknown=False)[1]
    except Exception:  # noqa: BLE001 - a rule we cannot build is not reachable either
        return None


def routes(app, world, user):
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP:
            continue
        path = _path(rule, world, user)
        if path is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path, rule.endpoint))
    return sorted(found, key=lambda r: (bool(LAST.search(r[2])), r[2], r[0]))


# A request line longer than gunicorn's limit_request_line (4,094 bytes by default) is refused
# by the server before the app sees it: query strings get a 4 KB "huge" value.
HUGE_IN_QUERY = "word " * 800
# Routes the person cannot reach (the plain request answers one of these) get a sample of the
# classes: the view refuses before it reads any field.
UNREACHED = {401, 403, 404, 405, 410}
SAMPLE = ("control", "surrogate", "int_2_64", "huge")


def _send(client, user, method, path, token, fields, value, relogin):
    """One request with every field in `fields` set to `value` (None: sent twice, "1" and NUL)."""
    if relogin:
        login(client, user)
    pairs = [(f, v) for f in fields for v in (["1", "\x00"] if value is None else [value])]
    if method == "GET":
        return client.open(path + "?" + encode(pairs), method="GET")
    return client.open(path, method=method, data=encode([("csrf_token", token), *pairs]),
                       content_type="application/x-www-form-urlencoded")


def sweep(app, client, user, world, token, full: bool = True):
    """Yield (method, path, what, response) for the whole corpus on every route: a plain probe
    (which records the fields the view reads), then each bad value class in every recorded
    field, then (POST) four of the bad JSON bodies, in turn, so every body meets a quarter of
    the routes (tests/platform/test_bad_input_corpus.py sends each to the JSON endpoint). `full=False`:
    only the SAMPLE classes, on every route (a second persona, whose reachable forms are a
    subset of the admin's)."""
    for number, (method, path, endpoint) in enumerate(routes(app, world, user)):
        last = bool(LAST.search(endpoint))  # may sign out or end the session: sign in before each request
        login(client, user)
        Recording.seen = set()
        data = encode([("csrf_token", token)]) if method != "GET" else None
        probe = client.open(path, method=method, data=data, content_type="application/x-www-form-urlencoded")
        yield method, path, "probe", probe
        fields = sorted(Recording.seen - {"csrf_token", "_method"}) or ["q", "body", "id"]
        classes = [*BAD_VALUES.items(), ("twice", None)]
        if probe.status_code in UNREACHED or not full:
            classes = [(name, value) for name, value in classes if name in SAMPLE]
        for name, value in classes:
            groups = [fields]
            if method == "GET" and name == "huge":
                value = HUGE_IN_QUERY
            elif name == "huge":  # three 200 KB fields at a time: under the 1 MB body limit
                groups = [fields[i:i + 3] for i in range(0, len(fields), 3)]
            for group in groups:
                yield method, path, name, _send(client, user, method, path, token, group, value, last)
        if method == "POST":
            for i in range(4):
                body = BAD_JSON[(number + i) % len(BAD_JSON)]
                if last:
                    login(client, user)
                response = client.post(path, data=body, content_type="application/json",
                                       headers={"X-CSRFToken": token, "Accept": "application/json"})
                yield method, path, f"json {body[:20]!r}", response
