"""Image thumbnails with Pillow."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from .registry import task
from .settings import NotInDataDir, images_dir, open_inside

MIN_SIZE, MAX_SIZE = 16, 2048
SAMPLE_SIZE = (640, 400)
# Modes PNG can store as-is; anything else (CMYK, YCbCr, ...) is converted to RGB.
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%dT%H%M%S%f")


def make_sample_image(path: Path, size: tuple[int, int] = SAMPLE_SIZE) -> Path:
    """Draw a colour gradient with a few shapes and save it as PNG at ``path``."""
    width, height = size
    red = Image.linear_gradient("L").rotate(90).resize(size)
    green = Image.linear_gradient("L").resize(size)
    blue = Image.radial_gradient("L").resize(size)
    img = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(img)
    draw.ellipse((width // 8, height // 8, width // 2, height // 2 + height // 4), outline="white", width=6)
    draw.rectangle((width // 2, height // 3, width - width // 8, height - height // 8), outline="black", width=6)
    img.save(path, format="PNG")
    return path


@task(queue="default", timeout=120)
def make_thumbnail(source: str = "", size: int = 128) -> dict:
    """Make a PNG thumbnail that fits in a size x size box, keeping the aspect ratio.

    - source: an image (PNG, JPEG, GIF, WebP, ...) in the data directory:
      a name in its images folder, or a path inside the data directory.
      Files elsewhere on the worker are refused. Leave empty to generate a
      sample gradient image first, which is handy for trying the task out.
    - size: longest side of the thumbnail in pixels (16-2048)

    The thumbnail is written to the images folder of the data directory.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}, got {size!r}")
    if not isinstance(source, str):
        raise ValueError(f"source must be a file path, got {source!r}")

    out_dir = images_dir()
    generated = not source.strip()
    source_file: BinaryIO
    if generated:
        src_path = make_sample_image(out_dir / f"sample_{_stamp()}.png")
        # Closed by the `with source_file` below, like the file open_inside returns.
        source_file, shown = open(src_path, "rb"), str(src_path.relative_to(out_dir.parent))  # noqa: SIM115
    else:
        # Confined to the data directory; missing, forbidden and not-a-file all read the same.
        try:
            source_file, shown = open_inside(source.strip(), out_dir)
        except NotInDataDir as error:
            raise FileNotFoundError(f"Source image {error}") from None

    try:
        with source_file, Image.open(source_file) as opened:
            img: Image.Image = ImageOps.exif_transpose(opened)  # respect camera rotation
            source_width, source_height = img.size
            if img.mode not in _PNG_MODES:
                img = img.convert("RGB")
            img.thumbnail((size, size), Image.Resampling.LANCZOS)
            out_path = out_dir / f"{Path(shown).stem}_thumb{size}_{_stamp()}.png"
            img.save(out_path, format="PNG")
            width, height = img.size
    except UnidentifiedImageError:
        raise ValueError(f"Source is not an image Pillow can read: {shown}") from None

    return {
        "path": str(out_path),
        "width": width,
        "height": height,
        "format": "PNG",
        "source": shown,
        "source_generated": generated,
        "source_width": source_width,
        "source_height": source_height,
    }
