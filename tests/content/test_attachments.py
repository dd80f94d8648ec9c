"""Attachments: images and videos checked by content, re-encoded, stored all-or-nothing, and
served only to people who may read the post, as a safe type (nosniff, inline, Range)."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import Attachment, Comment, Community, Notification, Post, Topic, User
from app.services.content import attachments, comments, posts
from tests.conftest import post as post_form
from tests.helpers import fresh

# --- building files -----------------------------------------------------------------------


def _image(fmt: str, size=(64, 32), mode="RGB", color=(200, 40, 40), **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt, **save)
    return out.getvalue()


def _box(kind: bytes, payload: bytes = b"") -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def _mp4(brand: bytes = b"isom") -> bytes:
    """The smallest well-formed MP4 layout: ftyp (major brand, version, compatible brands),
    an empty moov and a small mdat."""
    return (_box(b"ftyp", brand + b"\x00\x00\x02\x00" + b"isomiso2mp41")
            + _box(b"moov", _box(b"mvhd", bytes(100))) + _box(b"mdat", bytes(64)))


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    return element_id + bytes([0x80 | len(payload)]) + payload


def _webm(doctype: bytes = b"webm") -> bytes:
    """An EBML header with DocType `doctype`, then a Segment of unknown size."""
    header = (_ebml(b"\x42\x86", b"\x01") + _ebml(b"\x42\xf7", b"\x01") + _ebml(b"\x42\xf2", b"\x04")
              + _ebml(b"\x42\xf3", b"\x08") + _ebml(b"\x42\x82", doctype) + _ebml(b"\x42\x87", b"\x04")
              + _ebml(b"\x42\x85", b"\x02"))
    segment = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff" + _ebml(b"\x15\x49\xa9\x66", bytes(20))
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + segment


def _file(data: bytes, name: str, content_type: str = "application/octet-stream") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name, content_type=content_type)


def _stored_files(app) -> list[Path]:
    root = Path(app.config["UPLOAD_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def world(ctx, make):
    manager = make.user("employee", is_global_manager=True)
    community = make.community("open", manager=manager, topics=("Returns",))
    member = make.user("customer")
    make.member(community, member)
    community = db.session.get(Community, community.id)
    topic = db.session.scalar(select(Topic).where(Topic.community_id == community.id))
    author = fresh(member)
    post = posts.create(author, community.slug, "discussion", "Our trip photos", "Look!", [topic.id])
    return {"manager": fresh(manager), "member": author, "community": community, "topic": topic, "post": post}


def _attachment_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Attachment))


# --- the service --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,mode,stored_type", [
    ("JPEG", "RGB", "image/jpeg"),
    ("PNG", "RGBA", "image/png"),
    ("GIF", "P", "image/png"),   # a still GIF becomes a PNG
    ("WEBP", "RGB", "image/webp"),
])
def test_images_are_reencoded_shrunk_and_thumbnailed(app, world, fmt, mode, stored_type):
    color = 3 if mode == "P" else (10, 120, 200, 255)[: len(mode)]
    data = _image(fmt, (3000, 1200), mode, color)
    [row] = attachments.attach(world["member"], [_file(data, f"big.{fmt.lower()}")], post=world["post"])
    db.session.commit()
    assert (row.media, row.content_type) == ("image", stored_type)
    assert (row.width, row.height) == (2048, 819)
    full = attachments.storage.path_for(row.key)
    with Image.open(full) as img:
        assert img.size == (2048, 819)
        assert Image.MIME[img.format] == stored_type
    with Image.open(attachments.storage.path_for(row.thumb_key)) as thumb:
        assert max(thumb.size) == 480
    assert full.read_bytes() != data
    assert row.original_name == f"big.{fmt.lower()}" and row.size == full.stat().st_size


def test_animated_gif_stays_animated(app, world):
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    [row] = attachments.attach(world["member"], [_file(out.getvalue(), "party.gif")], post=world["post"])
    assert row.content_type == "image/gif"
    with Image.open(attachments.storage.path_for(row.key)) as img:
        assert img.n_frames == 3


def test_exif_gps_is_stripped_and_orientation_applied(app, world):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to show
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 22.0, 1.5)
    gps[3], gps[4] = "E", (4.0, 53.0, 2.5)
    data = _image("JPEG", (80, 40), exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif().get_ifd(0x8825)  # the upload really carries a position
    [row] = attachments.attach(world["member"], [_file(data, "holiday.jpg")], post=world["post"])
    stored = attachments.storage.path_for(row.key).read_bytes()
    with Image.open(io.BytesIO(stored)) as img:
        assert img.size == (40, 80)  # upright
        assert not img.getexif().get_ifd(0x8825) and 0x0112 not in img.getexif()
    assert b"PhoneMaker" not in stored and b"Exif" not in stored
    assert (row.width, row.height) == (40, 80)


@pytest.mark.parametrize("data,name,content_type", [
    (_mp4(), "clip.mp4", "video/mp4"),
    (_mp4(b"mp42"), "phone.MP4", "video/mp4"),
    (_webm(), "screen.webm", "video/webm"),
])
def test_small_valid_videos_are_stored_as_uploaded(app, world, data, name, content_type):
    [row] = attachments.attach(world["member"], [_file(data, name, "application/octet-stream")],
                               post=world["post"])
    assert (row.media, row.content_type, row.thumb_key, row.size) == ("video", content_type, None, len(data))
    assert attachments.storage.path_for(row.key).read_bytes() == data
    assert row.key.endswith("." + content_type.split("/")[1]) and name not in row.key


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


@pytest.mark.parametrize("data,name,content_type", [
    (HTML, "cat.png", "image/png"),
    (SVG, "logo.svg", "image/svg+xml"),
    (SVG, "logo.png", "image/png"),
    (b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" * 20, "broken.png", "image/png"),
    (_image("PNG")[:60], "truncated.png", "image/png"),
    (b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF", "report.pdf", "application/pdf"),
    (b"just some notes\n", "notes.txt", "text/plain"),
    (_mp4(b"qt  "), "movie.mov", "video/quicktime"),
    (_box(b"ftyp", b"isom\x00\x00\x00\x00") + b"<html><script>alert(1)</script></html>", "trick.mp4", "video/mp4"),
    (_mp4()[:40], "cut.mp4", "video/mp4"),
    (_box(b"ftyp", b"isom\x00\x00\x00\x00") + _box(b"free", HTML), "wrapped.mp4", "video/mp4"),  # no movie
    (_webm(b"matroska"), "film.mkv", "video/webm"),
    (b"\x1a\x45\xdf\xa3" + b"garbage" * 10, "junk.webm", "video/webm"),
])
def test_files_that_are_not_what_we_accept_are_refused(app, world, data, name, content_type):
    with pytest.raises(ValidationError) as err:
        attachments.attach(world["member"], [_file(data, name, content_type)], post=world["post"])
    assert err.value.errors["files"].startswith(f"{name}: ")
    assert _stored_files(app) == [] and _attachment_count() == 0


def test_size_limits_come_from_the_configuration(app, world):
    app.config.update(IMAGE_MAX_BYTES=2_000, VIDEO_MAX_BYTES=100)
    noisy = Image.effect_noise((200, 200), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG")
    with pytest.raises(ValidationError) as err:
        attachments.attach(world["member"], [_file(out.getvalue(), "noise.png")], post=world["post"])
    assert "noise.png: the image is larger than 1 KB" in err.value.errors["files"]
    with pytest.raises(ValidationError) as err:
        attachments.attach(world["member"], [_file(_mp4(), "clip.mp4")], post=world["post"])
    assert "clip.mp4: the video is larger than" in err.value.errors["files"]
    assert _stored_files(app) == []


def test_at_most_max_attachments_per_post_in_total(app, world):
    app.config["MAX_ATTACHMENTS"] = 2
    three = [_file(_image("PNG"), f"{i}.png") for i in range(3)]
    with pytest.raises(ValidationError) as err:
        attachments.attach(world["member"], three, post=world["post"])
    assert "at most 2" in err.value.errors["files"]
    attachments.attach(world["member"], three[:2], post=world["post"])
    db.session.commit()
    with pytest.raises(ValidationError) as err:
        attachments.attach(world["member"], [_file(_image("PNG"), "more.png")], post=world["post"])
    assert "it has 2 already" in err.value.errors["files"]
    assert _attachment_count() == 2


def test_empty_inputs_are_skipped_and_empty_files_refused(app, world):
    assert attachments.attach(world["member"], [_file(b"", "")], post=world["post"]) == []
    with pytest.raises(ValidationError) as err:
        attachments.attach(world["member"], [_file(b"", "empty.jpg")], post=world["post"])
    assert err.value.errors["files"] == "empty.jpg: the file is empty."


def test_one_bad_file_means_nothing_is_stored(app, world):
    files = [_file(_image("JPEG"), "a.jpg"), _file(_mp4(), "b.mp4"), _file(HTML, "c.png", "image/png")]
    with pytest.raises(ValidationError) as err:
        attachments.attach(world["member"], files, post=world["post"])
    assert "c.png" in err.value.errors["files"] and "a.jpg" not in err.value.errors["files"]
    assert _stored_files(app) == [] and _attachment_count() == 0


def test_files_of_a_rolled_back_transaction_are_removed(app, world):
    attachments.attach(world["member"], [_file(_image("JPEG"), "a.jpg")], post=world["post"])
    assert len(_stored_files(app)) == 2  # the image and its thumbnail
    db.session.rollback()
    assert _stored_files(app) == []
    attachments.attach(world["member"], [_file(_image("JPEG"), "b.jpg")], post=world["post"])
    db.session.commit()
    db.session.close()
    assert len(_stored_files(app)) == 2


def test_display_names_are_cleaned(app, world):
    name = "../../etc/" + "\u202egpj.exe" + "\x00 my   holiday" + "x" * 150 + ".jpg"
    [row] = attachments.attach(world["member"], [_file(_image("JPEG"), name)], post=world["post"])
    assert "/" not in row.original_name and "\u202e" not in row.original_name and "\x00" not in row.original_name
    assert len(row.original_name) <= 100 and row.original_name.endswith(".jpg") and "my holiday" in row.original_name


def test_listing_for_a_post_and_for_comments(app, world, count_queries):
    p = world["post"]
    attachments.attach(world["member"], [_file(_image("PNG"), "one.png"), _file(_webm(), "two.webm")], post=p)
    db.session.commit()
    c1 = comments.add(world["manager"], p.id, "Nice", files=[_file(_image("JPEG"), "c1.jpg")])
    c2 = comments.add(world["member"], p.id, "Thanks", files=[_file(_image("JPEG"), "c2a.jpg"),
                                                             _file(_image("GIF"), "c2b.gif")])
    c3 = comments.add(world["member"], p.id, "No files")
    shown = attachments.for_post(p)
    assert [(f.name, f.media) for f in shown] == [("one.png", "image"), ("two.webm", "video")]
    assert shown[0].uploader_name == world["member"].display_name
    ids = [c1.id, c2.id, c3.id]
    with count_queries() as q:
        by_comment = attachments.for_comments(ids)
    assert q.count == 1
    assert {k: [f.name for f in v] for k, v in by_comment.items()} == {ids[0]: ["c1.jpg"], ids[1]: ["c2a.jpg", "c2b.gif"]}
    assert attachments.for_comments([]) == {}


# --- serving ------------------------------------------------------------------------------

def _files_url(attachment_id: int, variant: str = "full") -> str:
    return f"/files/{attachment_id}/{variant}"


@pytest.fixture
def served(app, make):
    """An image on a post in an internal community, an image and a video in an open one."""
    with app.app_context():
        employee = make.user("employee")
        internal = make.community("internal", topics=("Plans",))
        open_c = make.community("open", topics=("Trips",))
        e = fresh(employee)
        internal_post = posts.create(e, internal.slug, "discussion", "Internal roadmap", "",
                                     [db.session.scalar(select(Topic.id).where(Topic.community_id == internal.id))],
                                     files=[_file(_image("JPEG"), "roadmap.jpg")])
        video = b"".join([_mp4()[:-72], _box(b"mdat", bytes(range(256)) * 40)])
        open_post = posts.create(e, open_c.slug, "discussion", "Trip report", "",
                                 [db.session.scalar(select(Topic.id).where(Topic.community_id == open_c.id))],
                                 files=[_file(_image("PNG"), "summit.png"), _file(video, "climb.mp4")])
        ids = {"internal": attachments.for_post(internal_post)[0].id}
        shown = attachments.for_post(open_post)
        ids.update(image=shown[0].id, video=shown[1].id, open_post=open_post.id, video_bytes=video)
    return ids


def test_a_customer_cannot_fetch_files_of_an_internal_community(served, make, login_as):
    customer = login_as(make.user("customer"))
    for variant in ("full", "thumb"):
        assert customer.get(_files_url(served["internal"], variant)).status_code == 404
    assert customer.get(_files_url(served["image"])).status_code == 200


def test_signed_out_visitors_and_unknown_files_get_404(served, client, make, login_as):
    assert client.get(_files_url(served["image"])).status_code == 404
    login_as(make.user("employee"))
    assert client.get(_files_url(served["internal"])).status_code == 200
    assert client.get(_files_url(999_999)).status_code == 404
    assert client.get(_files_url(served["image"], "original")).status_code == 404
    assert client.get(_files_url(served["video"], "thumb")).status_code == 404  # videos have none


def test_a_reader_gets_the_stored_type_inline_with_nosniff(served, make, login_as):
    reader = login_as(make.user("partner"))
    for variant, mimetype in (("full", "image/png"), ("thumb", "image/jpeg")):
        resp = reader.get(_files_url(served["image"], variant))
        assert resp.status_code == 200 and resp.mimetype == mimetype
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert re.match(r'inline; filename="?summit(-thumbnail)?\.(png|jpg)"?$', resp.headers["Content-Disposition"])
        assert "private" in resp.headers["Cache-Control"] and "public" not in resp.headers["Cache-Control"]
        Image.open(io.BytesIO(resp.data)).verify()


def test_a_video_can_be_fetched_in_ranges(served, make, login_as):
    reader = login_as(make.user("customer"))
    whole = reader.get(_files_url(served["video"]))
    assert whole.status_code == 200 and whole.mimetype == "video/mp4" and whole.data == served["video_bytes"]
    part = reader.get(_files_url(served["video"]), headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.data == served["video_bytes"][100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(served['video_bytes'])}"
    assert part.headers["X-Content-Type-Options"] == "nosniff"


def test_files_of_a_deleted_comment_are_for_moderators_only(app, make, login_as):
    with app.app_context():
        manager = make.user("employee", is_global_manager=False)
        community = make.community("open", manager=manager, topics=("Trips",))
        author = make.user("customer")
        make.member(community, author)
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
        p = posts.create(fresh(author), community.slug, "discussion", "Gear advice", "", [topic_id])
        c = comments.add(fresh(author), p.id, "My tent", files=[_file(_image("JPEG"), "tent.jpg")])
        file_id = attachments.for_comments([c.id])[c.id][0].id
        comments.delete(fresh(author), c.id)
    reader = make.user("customer")
    assert login_as(reader).get(_files_url(file_id)).status_code == 404
    assert login_as(manager).get(_files_url(file_id)).status_code == 200


def test_deleted_post_files_follow_the_post(app, make, login_as, served):
    with app.app_context():
        post = db.session.get(Post, served["open_post"])
        posts.delete(db.session.get(User, post.author_id), post.id)
    assert login_as(make.user("customer")).get(_files_url(served["image"])).status_code == 404


# --- through the post form ----------------------------------------------------------------

def test_posting_with_files_shows_them_on_the_post_page(app, make, login_as):
    with app.app_context():
        community = make.community("open", topics=("Trips",))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
    client = login_as(make.user("customer"))
    resp = post_form(client, f"/c/{community.slug}/new", {
        "kind": "discussion", "title": "Sunrise at the lake", "body": "Taken this morning.",
        "topics": [str(topic_id)],
        "files": [(io.BytesIO(_image("JPEG", (900, 600))), "sunrise.jpg", "image/jpeg"),
                  (io.BytesIO(_webm()), "waves.webm", "video/webm")],
    }, content_type="multipart/form-data")
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        image, video = db.session.scalars(select(Attachment).order_by(Attachment.id)).all()
    assert f'href="/files/{image.id}/full"' in page and f'src="/files/{image.id}/thumb"' in page
    assert "Image attached by Customer" in page and "sunrise.jpg" in page
    assert re.search(rf'<video controls preload="metadata"[^>]*>\s*<source src="/files/{video.id}/full#t=0.1" type="video/webm">', page)
    assert client.get(f"/files/{image.id}/thumb").mimetype == "image/jpeg"


def test_a_lying_upload_re_renders_the_form_and_stores_nothing(app, make, login_as):
    with app.app_context():
        community = make.community("open", topics=("Trips",))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
    client = login_as(make.user("customer"))
    resp = post_form(client, f"/c/{community.slug}/new", {
        "kind": "discussion", "title": "Look at this cat", "body": "Cute.", "topics": [str(topic_id)],
        "files": [(io.BytesIO(_image("PNG")), "fine.png", "image/png"),
                  (io.BytesIO(HTML), "cat.png", "image/png")],
    }, content_type="multipart/form-data")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "cat.png: not a JPEG, PNG, GIF or WebP image or an MP4 or WebM video." in html
    assert 'value="Look at this cat"' in html  # nothing the person typed is lost
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Post)) == 0
        assert _attachment_count() == 0
    assert _stored_files(app) == []


def test_pages_load_the_script_once_and_give_it_a_csrf_token_for_the_preview(app, make, login_as):
    """The contract kring.js relies on: one deferred script from base.html, the token in a meta
    tag (signed-in pages only), accepted by POST /api/preview in the X-CSRFToken header."""
    with app.app_context():
        community = make.community("open", topics=("Trips",))
    client = login_as(make.user("customer"))
    make.user("employee", name="Bob")
    page = client.get(f"/c/{community.slug}/new").get_data(as_text=True)
    assert page.count("js/kring.js") == 1 and 'data-preview="/api/preview"' in page
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    assert client.post("/api/preview", data={"body": "**hi**"}).status_code == 400  # no token
    resp = client.post("/api/preview", data={"body": "**hi** @bob"}, headers={"X-CSRFToken": token})
    assert resp.status_code == 200
    assert resp.get_json()["html"].strip() == '<p><strong>hi</strong> <a href="/people/bob" rel="nofollow ugc noopener">@bob</a></p>'
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    signin = client.get("/signin")
    assert signin.status_code == 200 and 'name="csrf-token"' not in signin.get_data(as_text=True)


# --- removing -----------------------------------------------------------------------------

def _attach(world, user=None, name="tent.jpg"):
    [row] = attachments.attach(user or world["member"], [_file(_image("JPEG"), name)], post=world["post"])
    db.session.commit()
    return row.id, [attachments.storage.path_for(k) for k in (row.key, row.thumb_key)]


def test_the_author_removes_a_file_for_good(app, world):
    file_id, paths = _attach(world)
    keep_id, keep_paths = _attach(world, name="keep.jpg")
    assert all(p.is_file() for p in paths)
    removed, post_id = attachments.remove(world["member"], file_id)
    assert post_id == world["post"].id and removed.original_name == "tent.jpg"
    assert db.session.get(Attachment, file_id) is None
    assert not any(p.exists() for p in paths)  # nothing readable is left
    assert [f.id for f in attachments.for_post(world["post"])] == [keep_id]
    assert all(p.is_file() for p in keep_paths)
    with pytest.raises(NotFound):
        attachments.file_for(world["member"], file_id, "full")
    with pytest.raises(NotFound):  # twice: it is gone
        attachments.remove(world["member"], file_id)


def test_a_removal_that_does_not_commit_keeps_the_file(app, world, monkeypatch):
    file_id, paths = _attach(world)

    def failing_commit():
        raise RuntimeError("disk full")

    monkeypatch.setattr(db.session, "commit", failing_commit)
    with pytest.raises(RuntimeError):
        attachments.remove(world["member"], file_id)
    db.session.rollback()
    monkeypatch.undo()
    assert db.session.get(Attachment, file_id) is not None
    assert all(p.is_file() for p in paths)


def test_only_people_who_may_edit_remove_files(app, world, make):
    file_id, paths = _attach(world)
    reader = fresh(make.user("employee"))  # may read the open community, not edit the post
    with pytest.raises(Forbidden):
        attachments.remove(reader, file_id)
    db.session.rollback()
    internal = make.community("internal", topics=("Plans",))
    staff = fresh(make.user("employee"))
    secret = posts.create(staff, internal.slug, "discussion", "Internal plans", "",
                          [db.session.scalar(select(Topic.id).where(Topic.community_id == internal.id))],
                          files=[_file(_image("PNG"), "plan.png")])
    secret_file = attachments.for_post(secret)[0].id
    with pytest.raises(NotFound):  # a customer may not even know it exists
        attachments.remove(world["member"], secret_file)
    db.session.rollback()
    assert db.session.get(Attachment, file_id) and db.session.get(Attachment, secret_file)
    assert all(p.is_file() for p in paths)
    # the community's manager may, and the uploader is told
    attachments.remove(world["manager"], file_id)
    assert db.session.get(Attachment, file_id) is None
    note = db.session.scalar(select(Notification).where(Notification.user_id == world["member"].id,
                                                         Notification.kind == "moderation"))
    assert note is not None and "removed tent.jpg from your post" in note.text


def test_comment_files_follow_the_comment_edit_rule(app, world, make):
    other = fresh(make.user("customer"))
    make.member(world["community"], other)
    c = comments.add(world["member"], world["post"].id, "My tent", files=[_file(_image("JPEG"), "tent.jpg")])
    file_id = attachments.for_comments([c.id])[c.id][0].id
    with pytest.raises(Forbidden):
        attachments.remove(fresh(other), file_id)
    db.session.rollback()
    removed, post_id = attachments.remove(world["member"], file_id)
    assert post_id == world["post"].id and removed.comment_id == c.id
    assert attachments.for_comments([c.id]) == {}


def test_remove_buttons_on_the_edit_pages_post_with_csrf(app, make, login_as):
    with app.app_context():
        community = make.community("open", topics=("Trips",))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
        author = make.user("customer")
        p = posts.create(fresh(author), community.slug, "discussion", "Lake photos", "", [topic_id],
                         files=[_file(_image("JPEG"), "lake.jpg")])
        c = comments.add(fresh(author), p.id, "And one more", files=[_file(_image("PNG"), "more.png")])
        post_file = attachments.for_post(p)[0].id
        comment_file = attachments.for_comments([c.id])[c.id][0].id
        post_id, comment_id = p.id, c.id
    client = login_as(author)
    page = client.get(f"/p/{post_id}/edit").get_data(as_text=True)
    assert f'form="remove-file-{post_file}"' in page and f'action="/files/{post_file}/remove"' in page
    assert client.get(f"/files/{post_file}/remove").status_code == 404  # a GET removes nothing
    assert client.post(f"/files/{post_file}/remove").status_code == 400  # no CSRF token
    assert client.get(f"/files/{post_file}/full").status_code == 200
    resp = post_form(client, f"/files/{post_file}/remove", {"next": f"/p/{post_id}/edit"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/p/{post_id}/edit")
    page = client.get(f"/p/{post_id}/edit").get_data(as_text=True)
    assert "Removed lake.jpg" in page and "remove-file-" not in page
    assert client.get(f"/files/{post_file}/full").status_code == 404
    page = client.get(f"/comments/{comment_id}/edit").get_data(as_text=True)
    assert f'form="remove-file-{comment_file}"' in page
    stranger = login_as(make.user("customer"))
    assert post_form(stranger, f"/files/{comment_file}/remove").status_code == 403
    resp = post_form(login_as(author), f"/files/{comment_file}/remove", {"next": "https://evil.example/"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/p/{post_id}#c{comment_id}")
    with app.app_context():
        assert _attachment_count() == 0
    assert _stored_files(app) == []


def test_editing_a_post_can_add_files(app, make, login_as):
    with app.app_context():
        community = make.community("open", topics=("Trips",))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
        author = make.user("customer")
        post_id = posts.create(fresh(author), community.slug, "discussion", "Lake photos", "Soon", [topic_id]).id
    client = login_as(author)
    assert 'type="file"' in client.get(f"/p/{post_id}/edit").get_data(as_text=True)
    resp = post_form(client, f"/p/{post_id}/edit", {
        "title": "Lake photos", "body": "Soon", "topics": [str(topic_id)],
        "files": [(io.BytesIO(_image("JPEG", (300, 200))), "lake.jpg", "image/jpeg")],
    }, content_type="multipart/form-data")
    assert resp.status_code == 302
    page = client.get(f"/p/{post_id}").get_data(as_text=True)
    with app.app_context():
        [row] = db.session.scalars(select(Attachment)).all()
        assert row.post_id == post_id and row.original_name == "lake.jpg"
    assert f'src="/files/{row.id}/thumb"' in page


# --- pending uploads: a refused form keeps its files --------------------------------------

def _held_tokens(html: str) -> list[str]:
    return re.findall(r'<input type="hidden" name="pending" value="([^"]+)">', html)


def test_a_refused_post_form_keeps_its_file_and_the_next_submit_attaches_it(app, make, login_as):
    with app.app_context():
        community = make.community("open", topics=("Trips",))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
    client = login_as(make.user("customer"))
    url = f"/c/{community.slug}/new"
    refused = post_form(client, url, {
        "kind": "discussion", "title": "Sunrise at the lake", "body": "Taken this morning.",
        "files": [(io.BytesIO(_image("JPEG", (300, 200))), "sunrise.jpg", "image/jpeg")],
    }, content_type="multipart/form-data")  # no topic
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "File it under at least one topic." in html
    assert re.search(r"attached: <strong>sunrise\.jpg</strong>", html) and 'name="unattach"' in html
    tokens = _held_tokens(html)
    assert len(tokens) == 1
    again = post_form(client, url, {  # the file is not chosen again: only its token comes back
        "kind": "discussion", "title": "Sunrise at the lake", "body": "Taken this morning.",
        "topics": [str(topic_id)], "pending": tokens})
    assert again.status_code == 302
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        [row] = db.session.scalars(select(Attachment)).all()
        post = db.session.scalar(select(Post))
        assert row.post_id == post.id and row.original_name == "sunrise.jpg" and row.pending_token is None
    assert f'src="/files/{row.id}/thumb"' in page
    reused = post_form(client, url, {  # a claimed token is spent
        "kind": "discussion", "title": "Sunrise again", "body": "x", "topics": [str(topic_id)], "pending": tokens})
    assert reused.status_code == 400 and "no longer there" in reused.get_data(as_text=True)


def test_every_refusal_of_the_post_form_keeps_the_file(app, make, login_as):
    """The guidelines not accepted, a missing topic, the personal-data warning: the file stays
    through each, without being chosen again, and lands on the post."""
    from app.services.community import policy

    social = make.user("employee", is_global_manager=True)
    with app.app_context():
        community = make.community("open", manager=social, topics=("Trips",))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
        policy.save(fresh(social), "# Be kind\nNo spam.")
    client = login_as(make.user("employee"))
    url = f"/c/{community.slug}/new"
    data = {"kind": "discussion", "title": "Call me about the trip", "body": "My number is +31 6 1234 5678",
            "files": [(io.BytesIO(_image("PNG")), "card.png", "image/png")]}
    steps = [({}, "accept"), ({"accept_guidelines": "y"}, "topic"), ({"topics": [str(topic_id)]}, "phone number")]
    for extra, error in steps:
        data.update(extra)
        resp = post_form(client, url, data, content_type="multipart/form-data")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400 and error in html
        assert "attached: <strong>card.png</strong>" in html
        data.pop("files", None)
        data["pending"] = _held_tokens(html)
        assert len(data["pending"]) == 1
    done = post_form(client, url, {**data, "confirm_sensitive": "y"}, content_type="multipart/form-data")
    assert done.status_code == 302
    with app.app_context():
        [row] = db.session.scalars(select(Attachment)).all()
        assert row.post_id == db.session.scalar(select(Post.id)) and row.original_name == "card.png"


def test_every_refusal_of_the_comment_form_keeps_the_file(app, make, login_as):
    """The comment form, like the post form: an empty text, the guidelines not accepted, the
    personal-data warning; the chosen file stays attached through each (its name shown with a
    "remove" box, sent back as a token) and lands on the comment."""
    from app.services.community import policy

    social = make.user("employee", is_global_manager=True)
    with app.app_context():
        community = make.community("open", manager=social, topics=("Trips",))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
        post = posts.create(fresh(social), community.slug, "discussion", "Team trip", "Where to?", [topic_id])
        policy.save(fresh(social), "# Be kind\nNo spam.")
        post_id = post.id
    client = login_as(make.user("employee"))
    url = f"/p/{post_id}/comments"
    data = {"body": "", "files": [(io.BytesIO(_image("PNG")), "map.png", "image/png")]}
    steps = [({}, "accept"), ({"accept_guidelines": "1"}, "Write"),
             ({"body": "Call me: +31 6 1234 5678"}, "phone number")]
    for extra, error in steps:
        data.update(extra)
        resp = post_form(client, url, data, content_type="multipart/form-data")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400 and error in html, (extra, html[:300])
        assert "attached: <strong>map.png</strong>" in html
        data.pop("files", None)
        data["pending"] = _held_tokens(html)
        assert len(data["pending"]) == 1
    done = post_form(client, url, {**data, "confirm_sensitive": "1"}, content_type="multipart/form-data")
    assert done.status_code == 302
    with app.app_context():
        [row] = db.session.scalars(select(Attachment)).all()
        comment_id = db.session.scalar(select(Comment.id))
        assert row.comment_id == comment_id and row.post_id is None and row.original_name == "map.png"
        assert row.pending_token is None


def test_a_pending_file_is_removed_from_the_comment_form_when_ticked(app, make, login_as):
    with app.app_context():
        community = make.community("open", topics=("Trips",))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
        author = make.user("employee")
        post_id = posts.create(fresh(author), community.slug, "discussion", "Team trip", "x", [topic_id]).id
    client = login_as(make.user("employee"))
    url = f"/p/{post_id}/comments"
    html = post_form(client, url, {"body": " ", "files": [(io.BytesIO(_image("JPEG")), "a.jpg", "image/jpeg")]},
                     content_type="multipart/form-data").get_data(as_text=True)
    [token] = _held_tokens(html)
    done = post_form(client, url, {"body": "No photo after all.", "pending": [token], "unattach": [token]})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_nobody_else_can_claim_a_pending_upload(app, make, login_as):
    with app.app_context():
        community = make.community("open", topics=("Trips",))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
    ana, bob = make.user("customer"), make.user("customer")
    make.member(community, ana)
    make.member(community, bob)
    url = f"/c/{community.slug}/new"
    html = post_form(login_as(ana), url, {
        "kind": "discussion", "title": "Private photo", "body": "x",
        "files": [(io.BytesIO(_image("JPEG")), "ana-private.jpg", "image/jpeg")]},
        content_type="multipart/form-data").get_data(as_text=True)
    [token] = _held_tokens(html)
    thief = app.test_client()
    from tests.conftest import login

    login(thief, bob)
    refused = post_form(thief, url, {"kind": "discussion", "title": "Not mine", "body": "x",
                                     "topics": [str(topic_id)], "pending": [token]})
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert "no longer there" in body and "ana-private.jpg" not in body and token not in body
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Post)) == 0
        [row] = db.session.scalars(select(Attachment)).all()
        assert row.post_id is None and row.pending_token == token  # still Ana's, still pending
        with pytest.raises(ValidationError):
            attachments.attach(fresh(bob), [], post=posts.create(fresh(ana), community.slug, "discussion", "Ana's", "x",
                                                               [topic_id]), pending=[token])


def test_removing_a_pending_upload_and_the_purge_of_old_ones(app, world):
    from datetime import timedelta

    from app import clock

    member = world["member"]
    held = attachments.hold(member, [_file(_image("PNG"), "a.png"), _file(_image("JPEG"), "b.jpg")])
    assert [h.name for h in held] == ["a.png", "b.jpg"]
    assert len(_stored_files(app)) == 4  # two files, two thumbnails
    attachments.drop_pending(world["manager"], held[0].token)  # not theirs: nothing happens
    assert len(attachments.pending(member, [h.token for h in held])) == 2
    attachments.drop_pending(member, held[0].token)
    assert [h.name for h in attachments.pending(member, [h.token for h in held])] == ["b.jpg"]
    assert len(_stored_files(app)) == 2
    clock.set_now(clock.utcnow() + attachments.PENDING_FOR + timedelta(minutes=1))
    try:
        assert attachments.pending(member, [held[1].token]) == []  # expired: cannot be claimed
        assert attachments.purge_pending() == 1
    finally:
        clock.reset()
    assert _attachment_count() == 0 and _stored_files(app) == []
