"""Uploaded files on disk under UPLOAD_DIR, addressed by opaque keys ("avatars/ab12….png").

The only module that touches upload paths. Keys are generated here (random names), never
taken from a user, and resolved with a check that they stay inside the upload folder.
Images are validated by content and re-encoded with Pillow, which drops anything hidden
in them (scripts in metadata, polyglots) and strips EXIF.
"""
from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import ValidationError

# Kring checks every image's pixel count from its header against its own, lower limits
# (pixel_problem) before anything is decoded; Pillow's warning for large headers adds nothing.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

IMAGE_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
                 "mp4": "video/mp4", "webm": "video/webm"}
Image.MAX_IMAGE_PIXELS = 40_000_000  # refuse decompression bombs


def _root() -> Path:
    root = Path(current_app.config["UPLOAD_DIR"]).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def path_for(key: str) -> Path:
    """The file of `key`; ValueError if the key would leave the upload folder."""
    root = _root()
    path = (root / key).resolve()
    if root not in path.parents:
        raise ValueError("bad storage key")
    return path


def content_type(key: str) -> str:
    """The content type served for a stored key, from its extension (application/octet-stream when
    unknown). Raises nothing."""
    return CONTENT_TYPES.get(key.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def pixel_problem(width: int, height: int, max_pixels: int) -> str | None:
    """What is wrong with an image of width x height for a limit of max_pixels, as a message
    for the person (None: nothing). Asked with the size from the header, before decoding."""
    if width * height <= max_pixels:
        return None
    side = int(max_pixels ** 0.5)
    return (f"The image is {width:,} x {height:,} pixels; use at most {max_pixels / 1e6:g} megapixels "
            f"(for example {side:,} x {side:,}).")


def save_image(data: bytes, folder: str, *, max_bytes: int, size: tuple[int, int],
               field: str = "image", crop: bool = True, max_pixels: int | None = None) -> str:
    """Validate `data` as an image, re-encode it to PNG (or JPEG for photos) fitted to `size`,
    store it and return its key. Raises ValidationError({field: ...}) for anything else."""
    if not data:
        raise ValidationError({field: "Choose an image file."})
    if len(data) > max_bytes:
        raise ValidationError({field: f"The image is larger than {max_bytes // (1024 * 1024)} MB."})
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format
            if fmt not in IMAGE_FORMATS:
                raise ValidationError({field: "Use a JPEG, PNG, GIF or WebP image."})
            limit = max_pixels or current_app.config.get("AVATAR_MAX_PIXELS", 16_000_000)
            too_big = pixel_problem(probe.width, probe.height, limit)
            if too_big:
                raise ValidationError({field: too_big})
            probe.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.seek(0)
            if img.format == "JPEG":
                img.draft("RGB", (size[0] * 2, size[1] * 2))  # decode at a reduced scale
            img = ImageOps.exif_transpose(img)
            img = ImageOps.fit(img, size) if crop else _shrink(img, size)
            has_alpha = img.mode in ("RGBA", "LA", "P")
            out = io.BytesIO()
            if has_alpha:
                img.convert("RGBA").save(out, "PNG", optimize=True)
                ext = "png"
            else:
                img.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
                ext = "jpg"
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise ValidationError({field: "This file is not an image we can read (JPEG, PNG, GIF or WebP)."}) from None
    key = f"{folder}/{secrets.token_hex(16)}.{ext}"
    path = path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return key


def save_bytes(data: bytes, folder: str, ext: str) -> str:
    """Store `data` (already validated by the caller) under a new random key and return it."""
    if not folder.isidentifier() or not ext.isalnum():
        raise ValueError("bad folder or extension")
    key = f"{folder}/{secrets.token_hex(16)}.{ext.lower()}"
    path = path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key


def _shrink(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    img = img.copy()
    img.thumbnail(size)
    return img


def delete(key: str | None) -> None:
    """Remove a stored file; missing files are fine."""
    if not key:
        return
    try:
        path_for(key).unlink(missing_ok=True)
    except ValueError:
        pass
