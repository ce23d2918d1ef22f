"""Profile pictures: any common image in, a 256-pixel square WebP out, kept in the platform's storage."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.core.errors import Forbidden, PayloadTooLarge, ValidationFailed
from modelyard.core.runtime import get_runtime

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding them
SIZE = 256
ACCEPTED = {"PNG", "JPEG", "WEBP", "GIF"}


def set_avatar(session: Session, user: User, data: bytes) -> str:
    """Store `data` as the user's picture; returns its storage key. Bad images change nothing. A picture is shown
    to everyone, like a bio: muted users keep the one they have."""
    if not policy.can_post(user):
        raise Forbidden("Your account is muted: your profile picture cannot change for now")
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"Profile pictures are at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    picture = _square_webp(data)
    key = f"avatars/{user.id}/{hashlib.sha256(picture).hexdigest()[:16]}.webp"
    get_runtime().storage.save(key, picture, content_type="image/webp")
    user.avatar_key = key
    return key


def _square_webp(data: bytes) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ACCEPTED:
                raise ValidationFailed("Profile pictures are PNG, JPEG, WebP or GIF images")
            if image.width * image.height > MAX_PIXELS:
                raise ValidationFailed("That image has too many pixels")
            upright = ImageOps.exif_transpose(image).convert("RGBA")  # phones store rotation in EXIF
            square = ImageOps.fit(upright, (SIZE, SIZE), method=Image.Resampling.LANCZOS)
            out = io.BytesIO()
            square.save(out, format="WEBP", quality=85, method=4)
            return out.getvalue()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ValidationFailed("That file is not an image we can read") from exc


def avatar_url(user_avatar_key: str | None) -> str | None:
    """A short-lived URL of the picture (signed by this server, or presigned by the bucket)."""
    if not user_avatar_key:
        return None
    return get_runtime().storage.download_url(user_avatar_key)
