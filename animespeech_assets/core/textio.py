"""Reading human-written text files (subtitles, annotation CSVs) in whatever encoding they came in."""

from __future__ import annotations

import codecs
from pathlib import Path

# C0 controls that never occur in text files (tab, newlines, form feed and escape excluded), and DEL
CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])


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
    controls = sum(data.count(bytes([b])) for b in CONTROL_BYTES)
    if controls > max(2, len(data) // 200):
        raise TextFileError(f"{path}: binary, not a text file ({controls} control bytes in {len(data)}); "
                            "expected subtitles or CSV text (UTF-8, UTF-16, CP932 or EUC-JP)")
    try:
        return _lf(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError as exc:
        if any(b >= 0x80 for b in data[: exc.start]):  # valid UTF-8 Japanese before the bad bytes: a mix, not CP932
            line = data[: exc.start].count(b"\n") + 1
            raise TextFileError(f"{path}: line {line}: not UTF-8 (bytes {data[exc.start:exc.start + 4].hex(' ')}), "
                                "though the lines before are: the file mixes encodings; re-save it as UTF-8") from exc
    decoded = {}
    for enc in ("cp932", "euc_jp"):
        try:
            decoded[enc] = data.decode(enc)
        except UnicodeDecodeError:
            continue
    if decoded:  # short EUC-JP text is often valid CP932 too (as half-width katakana): the likelier Japanese wins
        enc = max(decoded, key=lambda e: _japanese_score(decoded[e]))
        return _lf(decoded[enc]), enc
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise TextFileError(f"{path}: cannot determine the text encoding (tried UTF-8/16, CP932, EUC-JP)")
    return _lf(str(best)), best.encoding


def _japanese_score(text: str) -> int:
    """Kana and kanji count for, half-width katakana (rare in real subtitles, common in mis-decodings) against."""
    return sum(1 if "\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" else -1 if "\uff61" <= c <= "\uff9f" else 0 for c in text)


def _lf(text: str) -> str:
    """LF line endings, and no byte-order mark inside the text (two files concatenated leave one mid-file)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")


def read_text(path: Path) -> tuple[str, str]:
    """Read and decode a human-written text file; returns (text with LF line endings, encoding)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TextFileError(f"{path}: cannot read ({exc})") from exc
    return decode_text(data, path)
