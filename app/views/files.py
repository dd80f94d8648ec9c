"""Serving attachments: only to people who may read the post, only as a safe media type.

GET /files/<id>/full and /files/<id>/thumb. Anything the viewer may not read, and anything
that is not a stored image or video type, answers 404. Responses are inline, nosniff, privately
cached and support Range requests (video seeking).

POST /files/<id>/remove (CSRF) removes an attachment for whoever may edit its post or comment
(app.services.content.attachments.remove), then goes back to `next` (a local address) or the post.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, send_file, url_for
from flask_login import current_user, login_required
from werkzeug.utils import secure_filename

from app.services.content import attachments
from app.services.platform import storage
from app.views.helpers import safe_next

bp = Blueprint("files", __name__)

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif",
              "video/mp4": "mp4", "video/webm": "webm"}


@bp.get("/files/<int:attachment_id>/<variant>")
def serve(attachment_id: int, variant: str):
    """The file (or its thumbnail), if the signed-in viewer may read its post; else 404."""
    attachment, key, content_type = attachments.file_for(current_user, attachment_id, variant)
    try:
        path = storage.path_for(key)
    except ValueError:
        abort(404)
    if not path.is_file() or content_type not in EXTENSIONS:
        abort(404)
    response = send_file(path, mimetype=content_type, conditional=True, etag=True,
                         download_name=_download_name(attachment, variant, content_type),
                         as_attachment=False, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers.pop("Expires", None)
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"
    return response


def _download_name(attachment, variant: str, content_type: str) -> str:
    """An ASCII-safe file name with the extension of the type actually served."""
    stem = (attachment.original_name or "").rsplit(".", 1)[0]
    stem = secure_filename(stem)[:60] or f"attachment-{attachment.id}"
    if variant == "thumb":
        stem += "-thumbnail"
    return f"{stem}.{EXTENSIONS[content_type]}"


@bp.post("/files/<int:attachment_id>/remove")
@login_required
def remove(attachment_id: int):
    """Remove an attachment (its author or the community's moderators); 404/403 otherwise."""
    attachment, post_id = attachments.remove(current_user, attachment_id)
    flash(f"Removed {attachment.original_name or 'the file'}.", "success")
    fallback = url_for("posts.show", post_id=post_id, _anchor=f"c{attachment.comment_id}" if attachment.comment_id else None)
    return redirect(safe_next(request.form.get("next"), fallback))
