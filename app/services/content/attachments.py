"""Image and video attachments on posts and comments.

Every file is checked by its content, never by its name or the browser's content type:

- images (JPEG, PNG, GIF, WebP) are decoded with Pillow and re-encoded: orientation applied,
  EXIF and other metadata dropped, longest side at most 2048 px, plus a thumbnail (480 px).
  Whatever else the upload carried (scripts in comments, polyglot tails) does not survive.
- videos are MP4 (an ISO BMFF 'ftyp' box with a known brand, then well-formed boxes including
  'moov') or WebM (an EBML header whose DocType is "webm", then a Segment); stored as uploaded
  under a random name.
- everything else (SVG, HTML, PDF, text, broken images) is refused with
  ValidationError({"files": "<name>: <reason>"}).

All files of one call are validated before the first is written; if anything fails nothing is
stored. Files written in a transaction that is rolled back instead of committed are deleted
again (a session hook below), so a failed post leaves no orphans on disk.

Pending uploads: when a form with files is refused for another reason (a missing topic, the
guidelines, the personal-data warning), `hold` stores its files as attachments of no post yet,
owned by the uploader and named by a random token the form sends back as hidden inputs; the
next submit claims them through `attach(..., pending=tokens)`, checked again (the uploader's
own, not expired). Unclaimed ones are deleted after PENDING_FOR (`purge_pending`, hourly).

The caller (posts.create/edit, the comments service) has already authorized the actor and
commits the transaction; `attach` only adds rows and flushes. They call `prepare` (the
checks and the re-encoding, the slow part) before their first write, so that work never holds
SQLite's write lock, and hand its Uploads to `attach`. Reading goes through
`file_for`, which asks app.services.access whether the viewer may read the post. `remove`
deletes an attachment for good (row, file and thumbnail) for whoever may edit its post or
comment; its files go only once the removal commits.

Over 500 lines: checking, re-encoding, storing, serving and removing files is one lifecycle with
shared limits and messages; splitting it would spread the upload rules over several modules.
"""
from __future__ import annotations

import io
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app import clock
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import Attachment, Comment, User
from app.services import access, notifications
from app.services.content import comments
from app.services.platform import jobs, storage

FOLDER = "attachments"
FULL_SIDE, THUMB_SIDE = 2048, 480
ANIMATION_PIXEL_BUDGET = 30_000_000  # frames x pixels kept as an animation; beyond: first frame
MAX_FRAMES = 300
NAME_MAX = 100
PENDING_FOR = timedelta(hours=24)  # a pending upload (kept from a refused form) lives this long
PENDING_PER_PERSON = 24  # at most this many pending uploads per person (the oldest go first)

SAFE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/webm"}
MP4_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"avc1", b"M4V "}
_BOX_TYPE = re.compile(rb"[A-Za-z0-9 \xa9]{4}")
_SESSION_KEY = "kring_uploaded_keys"
_REMOVED_KEY = "kring_removed_keys"  # files of attachments removed in this transaction

_SNIFF = (
    (lambda d: d[:3] == b"\xff\xd8\xff", "JPEG"),
    (lambda d: d[:8] == b"\x89PNG\r\n\x1a\n", "PNG"),
    (lambda d: d[:6] in (b"GIF87a", b"GIF89a"), "GIF"),
    (lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", "WEBP"),
)
_REFUSED = "not a JPEG, PNG, GIF or WebP image or an MP4 or WebM video."


@dataclass(frozen=True)
class Shown:
    """An attachment as the pages show it (with the uploader's name, no extra query)."""

    id: int
    media: str  # "image" | "video"
    content_type: str
    name: str
    uploader_name: str
    width: int | None
    height: int | None
    has_thumb: bool

    @property
    def is_image(self) -> bool:
        return self.media == "image"

    @property
    def thumb_size(self) -> tuple[int | None, int | None]:
        """Width and height of the thumbnail (for the img tag's layout hints)."""
        if not (self.width and self.height):
            return None, None
        scale = min(1.0, THUMB_SIDE / max(self.width, self.height))
        return max(1, round(self.width * scale)), max(1, round(self.height * scale))


@dataclass
class _Prepared:
    name: str
    media: str
    content_type: str
    data: bytes
    ext: str
    thumb: bytes | None = None
    thumb_ext: str | None = None
    width: int | None = None
    height: int | None = None


class _Refused(Exception):
    """One file is not acceptable; the message says why (shown after the file's name)."""


# --- attaching ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Uploads:
    """Files checked and re-encoded by `prepare`, not stored yet."""

    items: tuple[_Prepared, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)


def prepare(files) -> Uploads:
    """Check and re-encode `files` (werkzeug FileStorage; empty inputs skipped): the slow part
    of an upload (Pillow), which services do before their first write so that it never holds
    SQLite's write lock. Raises ValidationError({"files": ...}) when a file is refused or there
    are more than MAX_ATTACHMENTS."""
    if isinstance(files, Uploads):
        return files
    files = _chosen(files)
    if not files:
        return Uploads()
    cfg = current_app.config
    if len(files) > cfg["MAX_ATTACHMENTS"]:
        raise ValidationError({"files": f"Attach at most {cfg['MAX_ATTACHMENTS']} files at once."})
    prepared, problems = [], []
    for storage_file in files:
        name = display_name(storage_file.filename)
        try:
            prepared.append(_prepare(storage_file, name, cfg["IMAGE_MAX_BYTES"], cfg["VIDEO_MAX_BYTES"]))
        except _Refused as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise ValidationError({"files": " ".join(problems)})
    return Uploads(tuple(prepared))


def attach(actor, files, *, post=None, comment=None, pending=()) -> list[Attachment]:
    """Store `files` (an Uploads from `prepare`, or FileStorage to prepare now) on `post` or
    `comment`, for an actor the caller has authorized, together with the actor's pending
    uploads named by the tokens in `pending` (see `hold`). Returns the new rows (flushed, not
    committed). Raises ValidationError({"files": ...}) when a file is refused, a pending token
    is not the actor's (or expired), or the post or comment would get more than
    MAX_ATTACHMENTS files; then nothing is stored."""
    if (post is None) == (comment is None):
        raise ValueError("attach to exactly one post or comment")
    uploads = prepare(files)
    held = _claimable(actor, pending)
    if not uploads and not held:
        return []
    limit = current_app.config["MAX_ATTACHMENTS"]
    owner = Attachment.post_id == post.id if post is not None else Attachment.comment_id == comment.id
    existing = db.session.scalar(select(func.count()).select_from(Attachment).where(owner)) or 0
    if existing + len(uploads) + len(held) > limit:
        where = "post" if post is not None else "comment"
        extra = f" (it has {existing} already)" if existing else ""
        raise ValidationError({"files": f"Attach at most {limit} files to a {where}{extra}."})
    rows = _store(actor, uploads, post=post, comment=comment)
    for row in held:
        row.post_id = post.id if post is not None else None
        row.comment_id = comment.id if comment is not None else None
        row.pending_token = None
    db.session.flush()
    return held + rows


def _chosen(files) -> list:
    return [f for f in (files or ()) if f is not None and (getattr(f, "filename", "") or "").strip()]


def _store(actor, uploads: Uploads, *, post=None, comment=None, pending: bool = False) -> list[Attachment]:
    """Write prepared files and add their rows (flushed)."""
    prepared = uploads.items

    written: list[str] = []
    rows = []
    try:
        for item in prepared:
            key = storage.save_bytes(item.data, FOLDER, item.ext)
            written.append(key)
            thumb_key = None
            if item.thumb is not None:
                thumb_key = storage.save_bytes(item.thumb, FOLDER, item.thumb_ext)
                written.append(thumb_key)
            rows.append(Attachment(
                post_id=post.id if post is not None else None,
                comment_id=comment.id if comment is not None else None,
                uploader_id=actor.id, media=item.media, key=key, thumb_key=thumb_key,
                content_type=item.content_type, size=len(item.data), width=item.width,
                height=item.height, original_name=item.name,
                pending_token=secrets.token_urlsafe(24) if pending else None))
    except OSError:
        for key in written:
            storage.delete(key)
        raise
    _remember(written)
    db.session.add_all(rows)
    db.session.flush()
    return rows


# --- pending uploads: files kept from a form that was refused -----------------------------

@dataclass(frozen=True)
class Pending:
    """A pending upload as the form shows it ("attached: name (remove)")."""

    token: str
    name: str
    media: str


def _pending_rows(actor, tokens):
    """The actor's own pending uploads among `tokens` that have not expired, oldest first."""
    tokens = list(dict.fromkeys(t for t in (tokens or ()) if isinstance(t, str) and 0 < len(t) <= 64))
    if not tokens or not getattr(actor, "id", None):
        return []
    since = clock.utcnow() - PENDING_FOR
    return list(db.session.scalars(select(Attachment).where(
        Attachment.pending_token.in_(tokens), Attachment.uploader_id == actor.id,
        Attachment.post_id.is_(None), Attachment.comment_id.is_(None),
        Attachment.created_at >= since).order_by(Attachment.id)))


def _claimable(actor, tokens) -> list[Attachment]:
    """The pending uploads `tokens` name, checked again: each must be the actor's and not
    expired. Raises ValidationError({"files": ...}) otherwise (another person's token
    claims nothing)."""
    wanted = set(t for t in (tokens or ()) if t)
    rows = _pending_rows(actor, wanted)
    if len(rows) != len(wanted):
        raise ValidationError({"files": "A file you attached earlier is no longer there. Choose it again."})
    return rows


def hold(actor, files, keep=()) -> list[Pending]:
    """Keep the files of a form that was refused (a missing topic, the guidelines, the
    personal-data warning) as pending uploads of `actor`, so the re-rendered form shows them
    and its next submit attaches them without uploading again (`attach(..., pending=)`).
    `keep`: tokens the form already carried. Returns every pending upload of the form (kept
    ones first). Commits. Each file is validated as `attach` does; a refused file raises
    ValidationError({"files": ...}) and nothing new is kept. A person has at most
    PENDING_PER_PERSON pending uploads (the oldest go); they expire after PENDING_FOR."""
    tokens = [r.pending_token for r in _pending_rows(actor, keep)]
    files = _chosen(files)
    if files:
        limit = current_app.config["MAX_ATTACHMENTS"]
        if len(tokens) + len(files) > limit:
            raise ValidationError({"files": f"Attach at most {limit} files."})
        tokens += [r.pending_token for r in _store(actor, prepare(files), pending=True)]
        _trim_pending(actor)
        db.session.commit()
    return pending(actor, tokens)


def _trim_pending(actor) -> None:
    rows = list(db.session.scalars(select(Attachment).where(
        Attachment.uploader_id == actor.id, Attachment.pending_token.is_not(None))
        .order_by(Attachment.id.desc()).offset(PENDING_PER_PERSON)))
    _forget(rows)


def pending(actor, tokens) -> list[Pending]:
    """The actor's pending uploads among `tokens` (others' tokens and expired ones left out)."""
    return [Pending(token=r.pending_token, name=r.original_name or "file", media=r.media)
            for r in _pending_rows(actor, tokens)]


def drop_pending(actor, token: str) -> None:
    """Remove one of the actor's pending uploads (the form's "remove"); others' tokens do
    nothing. Commits; the files go once the removal commits."""
    _forget(_pending_rows(actor, [token]))
    db.session.commit()


def purge_pending(older_than: timedelta = PENDING_FOR) -> int:
    """Delete pending uploads older than `older_than` (rows and files). Returns how many."""
    rows = list(db.session.scalars(select(Attachment).where(
        Attachment.pending_token.is_not(None), Attachment.created_at < clock.utcnow() - older_than)))
    _forget(rows)
    db.session.commit()
    return len(rows)


@jobs.periodic("attachments.purge_pending", every=timedelta(hours=1))
def _purge_pending_job(payload: dict) -> None:
    purge_pending()


def _forget(rows) -> None:
    """Delete attachment rows now and their files once the transaction commits."""
    for row in rows:
        db.session().info.setdefault(_REMOVED_KEY, []).extend(k for k in (row.key, row.thumb_key) if k)
        db.session.delete(row)
    db.session.flush()


def display_name(filename: str | None) -> str:
    """A file name fit for display only: no folders, no control or direction characters,
    whitespace collapsed, at most NAME_MAX characters (the extension kept when possible)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split()).strip(". ")
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 8:
            name = stem[: NAME_MAX - len(ext) - 2] + "…." + ext
        else:
            name = name[: NAME_MAX - 1] + "…"
    return name or "file"


def _prepare(storage_file, name: str, image_max: int, video_max: int) -> _Prepared:
    stream = storage_file.stream
    try:
        stream.seek(0)
    except (AttributeError, OSError):
        pass
    data = stream.read(max(image_max, video_max) + 1)
    if not data:
        raise _Refused("the file is empty.")
    image_format = next((fmt for test, fmt in _SNIFF if test(data)), None)
    if image_format:
        if len(data) > image_max:
            raise _Refused(f"the image is larger than {_mb(image_max)}.")
        return _image(data, image_format, name)
    video = _video_type(data)
    if video:
        if len(data) > video_max:
            raise _Refused(f"the video is larger than {_mb(video_max)}.")
        return _Prepared(name=name, media="video", content_type=f"video/{video}", data=data, ext=video)
    raise _Refused(_REFUSED)


def _mb(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB"
    return f"{max(1, limit // 1024)} KB"


# --- images -------------------------------------------------------------------------------

def _image(data: bytes, expected: str, name: str) -> _Prepared:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format != expected and not (expected == "JPEG" and probe.format == "MPO"):
                raise _Refused("the file's content is not the image it claims to be.")
            too_big = storage.pixel_problem(probe.width, probe.height, current_app.config["IMAGE_MAX_PIXELS"])
            if too_big:  # from the header, before anything is decoded
                raise _Refused(too_big[0].lower() + too_big[1:])
            probe.verify()
        with Image.open(io.BytesIO(data)) as img:
            frames = getattr(img, "n_frames", 1)
            if (expected in ("GIF", "WEBP") and 1 < frames <= MAX_FRAMES
                    and frames * img.width * img.height <= ANIMATION_PIXEL_BUDGET):
                full, ext, ctype, first = _animated(img, expected)
            else:
                img.seek(0)
                if expected == "JPEG":
                    img.draft("RGB", (FULL_SIDE, FULL_SIDE))  # decode at a reduced scale
                img.load()
                first = _still(img)
                full, ext, ctype = _encode(first, expected)
            thumb_img = first.copy()
            thumb_img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
            thumb, thumb_ext, _ = _encode(thumb_img, "THUMB")
            width, height = first.size
    except _Refused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError, IndexError,
            Image.DecompressionBombError, MemoryError):
        raise _Refused("this is not an image we can read (it may be damaged).") from None
    return _Prepared(name=name, media="image", content_type=ctype, data=full, ext=ext,
                     thumb=thumb, thumb_ext=thumb_ext, width=width, height=height)


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def _still(img: Image.Image) -> Image.Image:
    """The upright first frame, at most FULL_SIDE, in RGB or RGBA, without any metadata."""
    upright = ImageOps.exif_transpose(img)
    upright = upright.convert("RGBA" if _has_alpha(upright) else "RGB")
    upright.thumbnail((FULL_SIDE, FULL_SIDE), Image.Resampling.LANCZOS)
    clean = Image.new(upright.mode, upright.size)
    clean.paste(upright)
    return clean  # a fresh image: no info, no EXIF, no text chunks


def _encode(img: Image.Image, source_format: str) -> tuple[bytes, str, str]:
    """Re-encode a still image: JPEG stays JPEG, WebP stays WebP, others become PNG; an opaque
    thumbnail becomes a JPEG."""
    out = io.BytesIO()
    alpha = img.mode == "RGBA"
    if source_format == "WEBP":
        img.save(out, "WEBP", quality=85, method=4)
        return out.getvalue(), "webp", "image/webp"
    if source_format == "JPEG" or (source_format == "THUMB" and not alpha):
        img.convert("RGB").save(out, "JPEG", quality=85, optimize=True, progressive=True)
        return out.getvalue(), "jpg", "image/jpeg"
    img.save(out, "PNG", compress_level=6)
    return out.getvalue(), "png", "image/png"


def _animated(img: Image.Image, fmt: str) -> tuple[bytes, str, str, Image.Image]:
    """Re-encode every frame of an animated GIF or WebP (resized, metadata dropped)."""
    frames, durations = [], []
    for frame in ImageSequence.Iterator(img):
        rgba = frame.convert("RGBA")
        rgba.thumbnail((FULL_SIDE, FULL_SIDE), Image.Resampling.LANCZOS)
        frames.append(rgba)
        durations.append(max(20, int(frame.info.get("duration") or 100)))
    out = io.BytesIO()
    loop = int(img.info.get("loop", 0) or 0)
    if fmt == "GIF":
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=durations,
                       loop=loop, disposal=2, optimize=False)
        ext, ctype = "gif", "image/gif"
    else:
        frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=durations,
                       loop=loop, quality=85)
        ext, ctype = "webp", "image/webp"
    return out.getvalue(), ext, ctype, frames[0]


# --- videos -------------------------------------------------------------------------------

def _video_type(data: bytes) -> str | None:
    """"mp4" or "webm" when the bytes are a well-formed container of that kind, else None."""
    if _is_mp4(data):
        return "mp4"
    if _is_webm(data):
        return "webm"
    return None


def _is_mp4(data: bytes) -> bool:
    """An ISO BMFF file: 'ftyp' first with an allowed major brand, then top-level boxes that
    fill the file exactly, one of them 'moov'."""
    if len(data) < 16 or data[4:8] != b"ftyp" or data[8:12] not in MP4_BRANDS:
        return False
    pos, seen, end = 0, set(), len(data)
    while pos < end:
        if pos + 8 > end:
            return False
        size = int.from_bytes(data[pos:pos + 4], "big")
        box = data[pos + 4:pos + 8]
        if not _BOX_TYPE.fullmatch(box):
            return False
        header = 8
        if size == 1:  # 64-bit size follows
            if pos + 16 > end:
                return False
            size, header = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        elif size == 0:  # box runs to the end of the file
            size = end - pos
        if size < header or pos + size > end:
            return False
        if pos == 0 and size < 16:
            return False
        seen.add(box)
        pos += size
    return b"moov" in seen


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `pos`: (value, next position). ValueError if bad."""
    if pos >= len(data) or data[pos] == 0:
        raise ValueError("bad vint")
    first = data[pos]
    length = 9 - first.bit_length()
    if pos + length > len(data):
        raise ValueError("short vint")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1:pos + length]:
        value = (value << 8) | byte
    return value, pos + length


def _is_webm(data: bytes) -> bool:
    """An EBML header (1A 45 DF A3) whose DocType is "webm", followed by a Segment element."""
    if data[:4] != b"\x1a\x45\xdf\xa3":
        return False
    try:
        size, pos = _vint(data, 4, keep_marker=False)
        end = pos + size
        if size > 4096 or end > len(data):
            return False
        doctype = None
        while pos < end:
            element, pos = _vint(data, pos, keep_marker=True)
            length, pos = _vint(data, pos, keep_marker=False)
            if pos + length > end:
                return False
            if element == 0x4282:
                doctype = data[pos:pos + length].rstrip(b"\x00")
            pos += length
        if doctype != b"webm":
            return False
        segment, _ = _vint(data, end, keep_marker=True)
        return segment == 0x18538067
    except ValueError:
        return False


# --- reading ------------------------------------------------------------------------------

def _shown(rows) -> list[Shown]:
    return [Shown(id=a.id, media=a.media, content_type=a.content_type, name=a.original_name or "file",
                  uploader_name=uploader or "a former member", width=a.width, height=a.height,
                  has_thumb=bool(a.thumb_key)) for a, uploader in rows]


def _query():
    return (select(Attachment, User.display_name)
            .outerjoin(User, User.id == Attachment.uploader_id)
            .order_by(Attachment.id))


def for_post(post) -> list[Shown]:
    """The post's own attachments (not its comments'), oldest first, in one query."""
    return _shown(db.session.execute(_query().where(Attachment.post_id == post.id)).all())


def for_comments(comment_ids) -> dict[int, list[Shown]]:
    """Attachments of the given comments, by comment id (oldest first), in one query."""
    ids = list(comment_ids or ())
    if not ids:
        return {}
    found: dict[int, list[Shown]] = {}
    rows = db.session.execute(_query().where(Attachment.comment_id.in_(ids))).all()
    for row in rows:
        found.setdefault(row[0].comment_id, []).extend(_shown([row]))
    return found


def file_for(viewer, attachment_id: int, variant: str) -> tuple[Attachment, str, str]:
    """The attachment, the storage key and the content type to serve for `variant` ("full" or
    "thumb"), if the viewer may read the post it belongs to (a deleted comment's files: only
    the community's moderators). Raises NotFound otherwise, also for unsafe content types."""
    attachment = db.session.get(Attachment, attachment_id) if isinstance(attachment_id, int) else None
    if attachment is None or variant not in ("full", "thumb"):
        raise NotFound("No such file.")
    if attachment.post_id is not None:
        access.post_for(viewer, attachment.post_id, "read")
    else:
        comment = db.session.get(Comment, attachment.comment_id) if attachment.comment_id else None
        if comment is None:
            raise NotFound("No such file.")
        pacc = access.post_for(viewer, comment.post_id, "read")
        if comment.deleted_at is not None and not pacc.can_moderate:
            raise NotFound("No such file.")
    if variant == "thumb":
        if not attachment.thumb_key:
            raise NotFound("No such file.")
        key, content_type = attachment.thumb_key, storage.content_type(attachment.thumb_key)
    else:
        key, content_type = attachment.key, attachment.content_type
    if content_type not in SAFE_TYPES:
        raise NotFound("No such file.")
    return attachment, key, content_type


# --- removing -----------------------------------------------------------------------------

def remove(actor, attachment_id) -> tuple[Attachment, int]:
    """Remove an attachment for good: its row now, its stored file and thumbnail once the
    transaction commits (a rolled-back removal keeps both). Returns (the removed row, the id
    of its post, for the redirect).

    Who: whoever may edit what it is attached to: a post through access.post_for(..., "edit")
    (its author while it is live, the community's moderators and managers); a comment by the
    comments module's edit rule (its author while it is live, the community's moderators).
    Someone else's file removed by a moderator: the uploader is told.

    A hard delete, not a soft one: people remove a file because it should not be there (a
    wrong photo, a face, an address); keeping it on disk would keep it readable to whoever has
    access to the server and the backups. Post and comment revisions keep only text anyway.
    Raises NotFound (no such file, or one the actor may not read), Forbidden."""
    attachment = db.session.get(Attachment, attachment_id) if isinstance(attachment_id, int) else None
    if attachment is None:
        raise NotFound("No such file.")
    if attachment.post_id is not None:
        pacc = access.post_for(actor, attachment.post_id, "edit")  # NotFound for non-readers
        comment = None
    else:
        try:
            pacc, comment = comments.for_edit(actor, attachment.comment_id)
        except NotFound:
            raise NotFound("No such file.") from None
    post = pacc.post
    keys = [k for k in (attachment.key, attachment.thumb_key) if k]
    db.session.delete(attachment)
    db.session.flush()
    db.session().info.setdefault(_REMOVED_KEY, []).extend(keys)
    if attachment.uploader_id and attachment.uploader_id != actor.id:
        name = attachment.original_name or "a file"
        notifications.create("moderation", [attachment.uploader_id], actor_id=actor.id, post=post, comment=comment,
                             text=f"{actor.display_name} removed {name} from your "
                                  f"{'comment' if comment is not None else 'post'} “{post.title}”.")
    db.session.commit()
    return attachment, post.id


# --- files of transactions that do not commit ---------------------------------------------

def _remember(keys: list[str]) -> None:
    db.session().info.setdefault(_SESSION_KEY, []).extend(keys)


@event.listens_for(Session, "after_commit")
def _keep_committed(session) -> None:
    session.info.pop(_SESSION_KEY, None)
    for key in session.info.pop(_REMOVED_KEY, None) or ():  # removed attachments: now for good
        storage.delete(key)


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted(session, transaction) -> None:
    if transaction.parent is not None:
        return
    session.info.pop(_REMOVED_KEY, None)  # a removal that did not commit keeps its files
    keys = session.info.pop(_SESSION_KEY, None)
    for key in keys or ():
        try:
            storage.delete(key)
        except RuntimeError:  # no app context left: nothing we can resolve
            pass
