"""Proof (issue 7): upload abuse through the real forms (post, comment, avatar, community
cover): HTML disguised as an image, SVG with script, polyglots, oversized files and path tricks
in file names. Refused uploads store nothing; accepted ones are re-encoded (nothing the upload
smuggled survives), stored under a random name inside the upload folder, and served with
nosniff and a safe image type; files of a post are 404 for everyone who may not read the post.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from app.extensions import db
from tests import proof_world as pw
from tests.conftest import csrf_token, login

SCRIPT = b"<script>window.__xss=1</script>"
HTML = b"<!doctype html><html><body>" + SCRIPT + b"</body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1">'
       + SCRIPT + b"</svg>")
SAFE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "video/mp4", "video/webm"}


def _png(color="blue", size=(32, 32), text: str | None = None) -> bytes:
    buf = io.BytesIO()
    info = PngInfo()
    if text:
        info.add_text("Comment", text)
    Image.new("RGB", size, color).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _gif_polyglot() -> bytes:
    """A GIF whose comment extension and tail carry HTML/JS (a GIFAR-style polyglot)."""
    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, "GIF", comment=SCRIPT)
    return buf.getvalue() + HTML


REFUSED = {
    "html named png": (HTML, "cat.png", "image/png"),
    "html with a png signature": (b"\x89PNG\r\n\x1a\n" + HTML, "cat.png", "image/png"),
    "svg with script": (SVG, "logo.svg", "image/svg+xml"),
    "svg named png": (SVG, "logo.png", "image/png"),
    "html named jpg, sent as text/html": (HTML, "x.jpg", "text/html"),
    "a truncated png": (_png()[:60], "half.png", "image/png"),
}
ACCEPTED = {  # valid images that carry something else; the stored copy must not carry it
    "png with a script text chunk": (_png(text=SCRIPT.decode()), "chunk.png", "image/png"),
    "png with html appended": (_png() + HTML, "tail.png", "image/png"),
    "gif polyglot": (_gif_polyglot(), "poly.gif", "image/gif"),
}
NAMES = ["../../../../etc/passwd.png", "..\\..\\windows\\win.ini.png", "/abs/path.png", "nul\x00byte.png",
         "evil\u202egnp.exe.png", "ça😀 ünïcödé.png", "CON.png", "a" * 300 + ".png", " .png", "x.png%0A.html", "x.html%00.png"]


@pytest.fixture
def site(app, make):
    world = pw.build(app, make)
    client = app.test_client()
    author = world.places["open"].people["member"]
    login(client, author)
    return {"world": world, "client": client, "author": author, "token": csrf_token(client)}


def _stored(app) -> list[Path]:
    root = Path(app.config["UPLOAD_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file())


def _new_post(site, files, title="With files"):
    place = site["world"].places["open"]
    return site["client"].post(f"/c/{place.slug}/new", data={
        "csrf_token": site["token"], "kind": "discussion", "title": title, "body": "Files.",
        "topics": [str(place.topic_id)], "files": [(io.BytesIO(d), n, t) for d, n, t in files]},
        content_type="multipart/form-data")


def _counts(app) -> tuple[int, int]:
    from app.models import Attachment, Post

    with app.app_context():
        return db.session.query(Post).count(), db.session.query(Attachment).count()


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_disguised_and_scripted_uploads_are_refused_everywhere(app, site, case):
    data, name, ctype = REFUSED[case]
    before_files, before_rows = _stored(app), _counts(app)
    client, place = site["client"], site["world"].places["open"]
    resp = _new_post(site, [(data, name, ctype)])
    assert resp.status_code == 400 and name in resp.get_data(as_text=True)
    resp = client.post(f"/p/{place.post_id}/comments", data={
        "csrf_token": site["token"], "body": "A comment with a file",
        "files": [(io.BytesIO(data), name, ctype)]}, content_type="multipart/form-data")
    assert resp.status_code == 400
    resp = client.post("/profile/avatar", data={"csrf_token": site["token"], "avatar": (io.BytesIO(data), name, ctype)},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    manager = app.test_client()
    login(manager, place.people["manager"])
    resp = manager.post(f"/c/{place.slug}/manage/cover", data={
        "csrf_token": csrf_token(manager), "cover": (io.BytesIO(data), name, ctype)}, content_type="multipart/form-data")
    assert resp.status_code in (400, 302)
    assert _stored(app) == before_files and _counts(app) == before_rows
    with app.app_context():
        from app.models import Community, User

        assert db.session.get(User, site["author"].id).avatar_key is None
        assert db.session.get(Community, place.community_id).cover_key is None


def test_polyglots_are_reencoded_and_served_safely(app, site):
    from app.models import Attachment

    resp = _new_post(site, list(ACCEPTED.values()))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    with app.app_context():
        rows = db.session.query(Attachment).filter(Attachment.original_name.in_(
            [n for _d, n, _t in ACCEPTED.values()])).all()
        rows = [(r.id, r.key, r.thumb_key) for r in rows]
    assert len(rows) == len(ACCEPTED)
    for att_id, *keys in rows:
        for key in keys:
            stored = (Path(app.config["UPLOAD_DIR"]) / key).read_bytes()
            assert b"<script" not in stored and b"<html" not in stored.lower(), key
        for variant in ("full", "thumb"):
            served = site["client"].get(f"/files/{att_id}/{variant}")
            assert served.status_code == 200
            assert served.mimetype in SAFE_TYPES
            assert served.headers["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in served.headers.get("Content-Security-Policy", "")
            assert b"<script" not in served.data
    # an avatar made of a polyglot: re-encoded too, and served as an image with nosniff
    data, name, ctype = ACCEPTED["png with html appended"]
    resp = site["client"].post("/profile/avatar", data={"csrf_token": site["token"],
                                                         "avatar": (io.BytesIO(data), name, ctype)},
                               content_type="multipart/form-data")
    assert resp.status_code == 302
    with app.app_context():
        from app.models import User

        person = db.session.get(User, site["author"].id)
        key, handle = person.avatar_key, person.handle
    served = site["client"].get(f"/people/{handle}/avatar/{key.rsplit('/', 1)[-1]}")
    assert served.status_code == 200 and served.mimetype in SAFE_TYPES
    assert served.headers["X-Content-Type-Options"] == "nosniff" and b"<script" not in served.data


def test_path_tricks_in_file_names_stay_names(app, site):
    from app.models import Attachment

    root = Path(app.config["UPLOAD_DIR"]).resolve()
    for i in range(0, len(NAMES), 5):  # at most six files a post
        batch = NAMES[i:i + 5]
        resp = _new_post(site, [(_png(), n, "image/png") for n in batch], title=f"Names {i}")
        assert resp.status_code == 302, resp.get_data(as_text=True)[:400]
    with app.app_context():
        from app.models import Post

        rows = [(r.id, r.key, r.original_name) for r in db.session.query(Attachment).join(
            Post, Post.id == Attachment.post_id).filter(Post.title.startswith("Names"))]
    assert len(rows) == len(NAMES), [r[2] for r in rows]
    for att_id, key, original in rows:
        path = (root / key).resolve()
        assert root in path.parents and path.is_file()  # inside the upload folder, under our name
        assert "/" not in original and "\\" not in original and "\x00" not in original and "\u202e" not in original
        assert len(original) <= 100 and ".." not in original.split(".")[0]
        served = site["client"].get(f"/files/{att_id}/full")
        assert served.status_code == 200
        disposition = served.headers["Content-Disposition"]
        assert disposition.isascii() and "/" not in disposition and "\\" not in disposition
        assert disposition.endswith(('.png"', ".png"))
    assert not (root.parent / "etc").exists() and not any(root.parent.glob("*.ini*"))


def test_oversized_uploads_are_refused_cleanly(app, site):
    noisy = Image.effect_noise((400, 400), 80).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, "PNG")
    big = buf.getvalue()
    before_files, before_rows = _stored(app), _counts(app)
    app.config["IMAGE_MAX_BYTES"] = len(big) - 1
    app.config["AVATAR_MAX_BYTES"] = len(big) - 1
    resp = _new_post(site, [(big, "big.png", "image/png")])
    assert resp.status_code == 400 and "larger than" in resp.get_data(as_text=True)
    resp = site["client"].post("/profile/avatar", data={"csrf_token": site["token"],
                                                         "avatar": (io.BytesIO(big), "big.png", "image/png")},
                               content_type="multipart/form-data")
    assert resp.status_code == 400
    app.config["MAX_CONTENT_LENGTH"] = len(big) // 2  # the whole request: refused before it is read
    resp = _new_post(site, [(big, "big.png", "image/png")])
    assert resp.status_code == 413
    assert _stored(app) == before_files and _counts(app) == before_rows


def test_files_of_a_post_are_404_for_whoever_may_not_read_it(app, site):
    world = site["world"]
    for vis, place in world.places.items():
        for persona in pw.PERSONAS:
            client = app.test_client()
            person = world.person(persona, vis)
            if person is not None:
                login(client, person)
            for variant in ("full", "thumb", "../full", "original"):
                resp = client.get(f"/files/{place.attachment_id}/{variant}")
                readable = pw.may_read(persona, vis) and variant in {"full", "thumb"}
                assert resp.status_code == (200 if readable else 404), (persona, vis, variant)
    # a deleted post takes its files with it, for readers who are not moderators
    from app.models import User
    from app.services.content import posts

    place = world.places["open"]
    with app.app_context():
        posts.delete(db.session.get(User, place.people["manager"].id), place.post_id)
    reader = app.test_client()
    login(reader, world.people["customer"])
    assert reader.get(f"/files/{place.attachment_id}/full").status_code == 404


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels in its header but holds almost no data: what
    a decompression bomb looks like before it is decoded (an 8,900 x 8,900 one took 1 GB)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("width,height", [(8_900, 8_900), (6_300, 6_300), (60_000, 500)])
def test_images_with_too_many_pixels_are_refused_from_their_header_everywhere(app, site, width, height):
    data = _png_header(width, height)
    before_files, before_rows = _stored(app), _counts(app)
    client, place = site["client"], site["world"].places["open"]
    resp = _new_post(site, [(data, "bomb.png", "image/png")])
    assert resp.status_code == 400 and "megapixels" in resp.get_data(as_text=True)
    resp = client.post(f"/p/{place.post_id}/comments", data={
        "csrf_token": site["token"], "body": "A comment with a file",
        "files": [(io.BytesIO(data), "bomb.png", "image/png")]}, content_type="multipart/form-data")
    assert resp.status_code == 400 and "megapixels" in resp.get_data(as_text=True)
    resp = client.post("/profile/avatar", data={"csrf_token": site["token"],
                                                "avatar": (io.BytesIO(data), "bomb.png", "image/png")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and "megapixels" in resp.get_data(as_text=True)
    manager = app.test_client()
    login(manager, place.people["manager"])
    resp = manager.post(f"/c/{place.slug}/manage/cover", data={
        "csrf_token": csrf_token(manager), "cover": (io.BytesIO(data), "bomb.png", "image/png")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "megapixels" in resp.get_data(as_text=True)
    assert _stored(app) == before_files and _counts(app) == before_rows


def test_an_image_just_under_the_limit_is_taken_and_shrunk(app, site):
    app.config["IMAGE_MAX_PIXELS"] = 2_000 * 1_500
    before = _counts(app)[1]
    img = Image.new("RGB", (2_000, 1_500), "teal")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    resp = _new_post(site, [(buf.getvalue(), "wide.jpg", "image/jpeg")], title="A wide photo")
    assert resp.status_code in (302, 303)
    assert _counts(app)[1] == before + 1
    app.config["IMAGE_MAX_PIXELS"] = 2_000 * 1_500 - 1
    resp = _new_post(site, [(buf.getvalue(), "wide.jpg", "image/jpeg")], title="A wide photo again")
    assert resp.status_code == 400 and "3 megapixels" in resp.get_data(as_text=True).replace("2.99999", "3")
