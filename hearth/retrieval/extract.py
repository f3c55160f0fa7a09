"""Text extraction for vector-store ingestion: a file's bytes become the plain text that is
then chunked and embedded (OpenAI's file_search does the same before chunking).

The type is chosen by the filename's extension, as OpenAI's list of file_search formats is
a list of extensions. Supported: OpenAI's list less ``.doc`` and ``.pptx`` (no well-kept,
permissively licensed reader for legacy Word; python-pptx would pull in Pillow), plus the
aliases ``.htm`` and ``.markdown``. ``.csv`` is left out as OpenAI leaves it out (it sends
CSV to code interpreter instead).

- text and code (``.txt .md .json .py`` ...): the text verbatim, decoded from UTF-8 (a BOM
  is stripped), or from UTF-16/32 with a BOM, or from a legacy 8-bit encoding when
  charset-normalizer is confident of one;
- ``.html .htm``: the visible text (BeautifulSoup), one line per heading, paragraph, list
  item or table row;
- ``.pdf``: each page's text (pypdf), pages separated by a blank line; a PDF without a text
  layer (a scan) gives "";
- ``.docx``: paragraphs and table rows in document order (python-docx), cells joined by
  `` | ``.
"""

from __future__ import annotations

import codecs
import io
import logging
import re

import docx
from bs4 import BeautifulSoup
from bs4.dammit import EncodingDetector
from bs4.element import NavigableString, Tag
from charset_normalizer import from_bytes
from docx.table import Table
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

__all__ = ["SUPPORTED_EXTENSIONS", "ExtractionError", "extract_text"]

# pypdf logs recoverable oddities of a PDF (missing fontTools, a bad EOF marker) as
# warnings per page; a broken file is reported through ExtractionError instead
logging.getLogger("pypdf").setLevel(logging.ERROR)


class ExtractionError(Exception):
    """The file cannot be turned into text. ``code`` is OpenAI's vector store file
    ``last_error.code``: ``"unsupported_file"`` (a type file search does not read) or
    ``"invalid_file"`` (a supported type that is corrupt, encrypted, or not text)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


TEXT_EXTENSIONS = frozenset(
    {
        ".c", ".cpp", ".cs", ".css", ".go", ".java", ".js", ".json", ".markdown", ".md",
        ".php", ".py", ".rb", ".sh", ".tex", ".ts", ".txt",
    }
)  # fmt: skip
HTML_EXTENSIONS = frozenset({".html", ".htm"})
SUPPORTED_EXTENSIONS: frozenset[str] = TEXT_EXTENSIONS | HTML_EXTENSIONS | {".pdf", ".docx"}

# A legacy 8-bit guess is accepted only this clean (charset-normalizer's "chaos", 0..1) ...
_MAX_CHAOS = 0.1
# ... and any decoding only if at most this share of its characters are control characters
# or U+FFFD: more means the bytes are not text.
_MAX_UNPRINTABLE = 0.05
# Several code pages decode most Western text equally cleanly; cp1252 (a superset of
# latin-1's printable range) is by far the commonest, so it wins a tie.
_PREFERRED_LEGACY = ("cp1252", "latin_1", "iso8859_15")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"}
)
# Control characters (Unicode category Cc) but the whitespace ones, and the replacement
# character a decoder leaves for bytes it could not read.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_BLANK_RUNS = re.compile(r"\n{3,}")


def extract_text(filename: str, data: bytes) -> str:
    """Plain text of a document, chosen by the filename's extension (case-insensitive; a
    path's folders are ignored). Empty ``data`` of a supported type gives "" (the caller
    decides what an empty file means), as does a document with no text in it.

    Raises ExtractionError: ``unsupported_file`` for an extension not in
    SUPPORTED_EXTENSIONS (or none); ``invalid_file`` for bytes that are binary or in no
    recognisable encoding, and for a corrupt, truncated or password-protected PDF or DOCX.
    """
    ext = _extension(filename)
    if ext not in SUPPORTED_EXTENSIONS:
        kind = f"files of type {ext!r}" if ext else "files without an extension"
        raise ExtractionError(
            "unsupported_file",
            f"File search cannot read {kind} ({filename!r}); supported file types: "
            + ", ".join(sorted(SUPPORTED_EXTENSIONS))
            + ".",
        )
    if not data:
        return ""
    if ext in TEXT_EXTENSIONS:
        return _decode(data, filename)
    if ext in HTML_EXTENSIONS:
        return _html_text(data, filename)
    if ext == ".pdf":
        return _pdf_text(data, filename)
    return _docx_text(data, filename)


def _extension(filename: str) -> str:
    name = re.split(r"[/\\]", filename)[-1]
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


# -- text --------------------------------------------------------------------------------


def _decode(data: bytes, filename: str, declared: str | None = None) -> str:
    """``data`` as text: a BOM's encoding, else UTF-8, else ``declared`` (an HTML meta
    charset), else a confident charset-normalizer guess. Raises invalid_file otherwise."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise _not_text(filename, f"its {encoding} is malformed") from exc
            return _checked(text.lstrip("\ufeff"), filename)
    if b"\x00" in data:  # no text encoding but UTF-16/32 (handled above) has NUL bytes
        raise _not_text(filename, "it is binary")
    try:
        return _checked(data.decode("utf-8"), filename)
    except UnicodeDecodeError:
        pass
    if declared:
        try:
            return _checked(data.decode(declared), filename)
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declaration: guess instead
    return _checked(_guess_legacy(data, filename), filename)


def _guess_legacy(data: bytes, filename: str) -> str:
    matches = [m for m in from_bytes(data) if m.chaos <= _MAX_CHAOS]
    if not matches:
        raise _not_text(filename, "it is not UTF-8 and its encoding cannot be told")
    cleanest = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos == cleanest]
    coherent = max(m.coherence for m in tied)
    tied = [m for m in tied if m.coherence == coherent]
    for m in tied:
        if any(enc in _PREFERRED_LEGACY for enc in m.could_be_from_charset):
            return str(m)
    return str(tied[0])


def _checked(text: str, filename: str) -> str:
    if len(_UNPRINTABLE.findall(text)) > _MAX_UNPRINTABLE * len(text):
        raise _not_text(filename, "it is mostly control characters")
    return text


def _not_text(filename: str, why: str) -> ExtractionError:
    return ExtractionError("invalid_file", f"{filename!r} cannot be read as text: {why}.")


# -- HTML --------------------------------------------------------------------------------

_DROPPED = frozenset({"script", "style", "noscript", "head", "template"})
# Elements that start a paragraph (a blank line around them) or a line of their own.
_PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table", "figure", "hr"}
)
_LINES = frozenset(
    {
        "address", "article", "aside", "caption", "dd", "details", "dialog", "div", "dl",
        "dt", "fieldset", "figcaption", "footer", "form", "header", "hgroup", "li", "main",
        "nav", "ol", "section", "summary", "tr", "ul", "option", "legend",
    }
)  # fmt: skip
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


class _TextWriter:
    """Collects HTML text with whitespace collapsed as a browser does, and line breaks only
    where block elements put them."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.trailing_newlines = 0
        self.line_start = True
        self.space_pending = False

    def text(self, s: str) -> None:
        s = _SPACES.sub(" ", s)
        word = s.strip(" ")
        if not word:
            self.space_pending = self.space_pending or bool(s)
            return
        if (self.space_pending or s.startswith(" ")) and not self.line_start:
            self.parts.append(" ")
        self.parts.append(word)
        self.space_pending = s.endswith(" ")
        self.line_start = False
        self.trailing_newlines = 0

    def raw(self, s: str) -> None:
        if not s:
            return
        self.parts.append(s)
        stripped = s.rstrip("\n")
        newlines = len(s) - len(stripped)
        self.trailing_newlines = newlines if stripped else self.trailing_newlines + newlines
        self.line_start = s.endswith("\n")
        self.space_pending = False

    def newline(self, n: int) -> None:
        if not self.parts:
            return
        if self.trailing_newlines < n:
            self.parts.append("\n" * (n - self.trailing_newlines))
            self.trailing_newlines = n
        self.line_start = True
        self.space_pending = False

    def result(self) -> str:
        lines = [line.rstrip() for line in "".join(self.parts).split("\n")]
        return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


def _html_text(data: bytes, filename: str) -> str:
    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    soup = BeautifulSoup(_decode(data, filename, declared), "html.parser")
    out = _TextWriter()
    _walk_html(soup, out)
    return out.result()


def _walk_html(node: Tag, out: _TextWriter) -> None:
    for child in node.children:
        if isinstance(child, Tag):
            name = child.name.lower()
            if name in _DROPPED:
                continue
            if name == "br":
                out.newline(1)
            elif name == "tr":
                out.newline(1)
                out.text(" | ".join(_cell_texts(child)))
                out.newline(1)
            elif name == "pre":
                out.newline(2)
                out.raw(child.get_text())
                out.newline(2)
            elif name in _PARAGRAPHS:
                out.newline(2)
                _walk_html(child, out)
                out.newline(2)
            elif name in _LINES:
                out.newline(1)
                _walk_html(child, out)
                out.newline(1)
            else:
                _walk_html(child, out)
        # The plain-string classes only: comments, doctypes and CDATA are subclasses.
        elif type(child) is NavigableString:
            out.text(str(child))


def _cell_texts(row: Tag) -> list[str]:
    cells = []
    for cell in row.find_all(["td", "th"], recursive=False):
        if isinstance(cell, Tag):
            inner = _TextWriter()
            _walk_html(cell, inner)
            cells.append(_SPACES.sub(" ", inner.result()).strip())
    return cells


# -- PDF ---------------------------------------------------------------------------------


def _pdf_text(data: bytes, filename: str) -> str:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are encrypted only to restrict copying: they open with an empty
            # password, as a viewer opens them.
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:  # AES without the cryptography package
                raise ExtractionError(
                    "invalid_file",
                    f"{filename!r} is an encrypted PDF that this server cannot decrypt ({exc}).",
                ) from exc
            if opened == PasswordType.NOT_DECRYPTED:
                raise ExtractionError("invalid_file", f"{filename!r} is a password-protected PDF.")
        pages = [page.extract_text() for page in reader.pages]
    except ExtractionError:
        raise
    except Exception as exc:  # pypdf raises many types (and plain ValueErrors) on bad input
        raise ExtractionError(
            "invalid_file", f"{filename!r} is not a readable PDF: {exc or type(exc).__name__}."
        ) from exc
    # Ligatures (fi, fl) come out as one code point, which no search for the word matches.
    texts = [_clean(p).translate(_LIGATURES).strip() for p in pages]
    return "\n\n".join(t for t in texts if t)


def _clean(text: str) -> str:
    return text.replace("\x00", "")  # some fonts map glyphs to NUL; databases reject it


# -- DOCX --------------------------------------------------------------------------------

# OLE compound files: what a password-protected .docx (or a .doc renamed) really is.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _docx_text(data: bytes, filename: str) -> str:
    if data.startswith(_OLE_MAGIC):
        raise ExtractionError(
            "invalid_file",
            f"{filename!r} is a password-protected document or an old .doc renamed .docx.",
        )
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks.extend(_table_rows(item))
            else:
                blocks.append(item.text)
    except Exception as exc:  # a bad zip, a missing part, malformed XML ...
        raise ExtractionError(
            "invalid_file", f"{filename!r} is not a readable DOCX: {exc or type(exc).__name__}."
        ) from exc
    return _BLANK_RUNS.sub("\n\n", _clean("\n".join(blocks))).strip()


def _table_rows(table: Table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            # A merged cell appears once per grid column it spans: keep it once.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        rows.append(" | ".join(cells))
    return rows
