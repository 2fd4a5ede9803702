"""Reading human-written text files (subtitles, annotation CSVs) in whatever encoding they came in."""

from __future__ import annotations

import codecs
from pathlib import Path


class TextFileError(ValueError):
    """A text file that cannot be read; the message names the file."""


def decode_text(data: bytes, path: Path) -> tuple[str, str]:
    """Decode subtitle bytes; returns (text with LF line endings, encoding name)."""
    if not data.strip():
        raise TextFileError(f"{path}: the file is empty")
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return _lf(data.decode(enc)), enc
    # BOM-less UTF-16: every other byte of ASCII markup is NUL
    head = data[:2000]
    if head.count(0) > len(head) // 4:
        enc = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        return _lf(data.decode(enc, errors="strict")), enc
    for enc in ("utf-8", "cp932", "euc_jp"):
        try:
            return _lf(data.decode(enc)), enc
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise TextFileError(f"{path}: cannot determine the text encoding (tried UTF-8/16, CP932, EUC-JP)")
    return _lf(str(best)), best.encoding


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path) -> tuple[str, str]:
    """Read and decode a human-written text file; returns (text with LF line endings, encoding)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TextFileError(f"{path}: cannot read ({exc})") from exc
    return decode_text(data, path)
