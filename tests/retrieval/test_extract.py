"""Text extraction for vector stores: each supported type gives its text (the fixtures'
distinctive facts, fixtures/README.md says how each was made), HTML loses its scripts and
styles, and bad input fails with OpenAI's last_error codes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfWriter

from hearth.retrieval.extract import SUPPORTED_EXTENSIONS, ExtractionError, extract_text

FIXTURES = Path(__file__).parent / "fixtures"


def extract(name: str) -> str:
    return extract_text(name, (FIXTURES / name).read_bytes())


def fails(filename: str, data: bytes) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extract_text(filename, data)
    return caught.value


def test_markdown_stays_verbatim() -> None:
    text = extract("lighthouse.md")
    assert text == (FIXTURES / "lighthouse.md").read_text(encoding="utf-8")
    assert "The lamp was relit on 14 March 1897 by keeper Ada Lowrie" in text


def test_docx_paragraphs_and_table_rows_in_order() -> None:
    text = extract("lighthouse.docx")
    lines = text.splitlines()
    assert lines[0] == "The Hearthstone Lighthouse Keeper Logbook"
    assert "The foghorn is tuned to 212 Hz and sounds two blasts every ninety seconds." in text
    assert "Ezekiel Marsh | 1920-1932 | keeping a tame cormorant named Pip" in lines
    assert "Trim the wick at sunset and midnight." in lines
    assert lines.index("Keepers") < lines.index("Keeper | Years | Remembered for")
    assert lines.index("Keeper | Years | Remembered for") < lines.index("Duties")


def test_pdf_pages_joined_by_a_blank_line() -> None:
    text = extract("orchard.pdf")
    assert "Grafting season starts when the soil reaches 9 degrees" in text
    assert "Marigold Thistlewood" in text
    assert "bound with raffia" in text  # the "ffi" ligature comes out as letters
    first, second = text.split("\n\n")  # two pages, the second starts with "Pests"
    assert "Copperbell" in first and second.startswith("Pests\nCodling moth")
    assert "31 bat boxes" in second


def test_pdf_encrypted_only_against_copying_opens() -> None:
    assert "Grafting season starts when the soil reaches 9 degrees" in extract("owner-locked.pdf")


def test_pdf_with_a_password_is_invalid() -> None:
    err = fails("encrypted.pdf", (FIXTURES / "encrypted.pdf").read_bytes())
    assert err.code == "invalid_file"
    assert "password" in err.message or "encrypted" in err.message


def test_truncated_pdf_is_invalid() -> None:
    err = fails("corrupt.pdf", (FIXTURES / "corrupt.pdf").read_bytes())
    assert err.code == "invalid_file" and "corrupt.pdf" in err.message
    assert fails("x.pdf", b"%PDF-1.7\nnot really").code == "invalid_file"


def test_pdf_without_text_is_empty() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)  # as a scan: no text layer
    buf = io.BytesIO()
    writer.write(buf)
    assert extract_text("scan.pdf", buf.getvalue()) == ""


def test_html_visible_text_with_block_structure() -> None:
    text = extract("recipes.html")
    lines = text.splitlines()
    assert "Grandmother Oonagh Fitch always finished the broth with a spoon of" in text
    assert "Samphire Fritters" in lines  # a heading on its own line
    assert "Oyster liquor | 120 ml" in lines  # a table row
    assert "Prove the dough overnight in a cool larder." in lines  # a list item
    assert "\n\n\n" not in text
    for hidden in ("HIDDEN", "kitchenAnalytics", "font-family", "Saltmarsh Kitchen Recipes</"):
        assert hidden not in text


def test_html_whitespace_inline_and_pre() -> None:
    html = (
        "<html><head><title>t</title></head><body>\n"
        "<h1>  Title\n  here </h1><!-- a comment -->"
        "<p>one <b>two</b>three <i>four</i> <span> five</span></p>"
        "<ul><li>a</li><li>b<br>c</li></ul>"
        "<pre>def f():\n    return 1\n</pre><div>after</div>"
        "</body></html>"
    )
    text = extract_text("page.HTM", html.encode())
    assert text == (
        "Title here\n\none twothree four five\n\na\nb\nc\n\ndef f():\n    return 1\n\nafter"
    )


def test_html_declared_charset_is_honoured() -> None:
    html = '<meta charset="iso-8859-1"><p>Cr\xe8me br\xfbl\xe9e</p>'.encode("latin-1")
    assert extract_text("menu.html", html) == "Crème brûlée"


def test_latin1_text_decodes() -> None:
    text = extract("notes-latin1.txt")
    assert "The smørrebrød at the Øresund ferry café costs 74 kroner." in text
    assert "Señora Ibáñez keeps the crème brûlée recipe" in text


def test_utf8_bom_and_utf16_are_text() -> None:
    assert extract_text("a.txt", b"\xef\xbb\xbfhello") == "hello"
    assert extract_text("a.py", "x = 'ü'\n".encode("utf-16")) == "x = 'ü'\n"


def test_binary_named_text_is_invalid() -> None:
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(range(256))
    err = fails("notes.txt", png)
    assert err.code == "invalid_file" and "notes.txt" in err.message
    assert fails("data.json", bytes(range(1, 32)) * 20).code == "invalid_file"  # no NULs


def test_unsupported_types() -> None:
    err = fails("photo.png", b"\x89PNG\r\n")
    assert err.code == "unsupported_file"
    assert "'.png'" in err.message and ".pdf" in err.message
    assert fails("Makefile", b"all:\n").code == "unsupported_file"
    assert fails("report.doc", b"").code == "unsupported_file"


def test_extension_is_case_insensitive_and_path_blind() -> None:
    assert extract_text("dir.v2/NOTES.TXT", b"hi") == "hi"
    assert extract_text("C:\\docs\\Main.Go", b"package main") == "package main"
    assert {".pdf", ".docx", ".html", ".htm", ".md", ".txt"} <= SUPPORTED_EXTENSIONS


def test_empty_input_is_empty_text() -> None:
    assert extract("empty.txt") == ""
    for name in ("e.pdf", "e.docx", "e.html", "e.json"):
        assert extract_text(name, b"") == ""


def test_corrupt_docx_is_invalid() -> None:
    good = (FIXTURES / "lighthouse.docx").read_bytes()
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100)  # password-protected, or a .doc
    for data in (good[: len(good) // 2], b"not a zip", ole):
        assert fails("logbook.docx", data).code == "invalid_file"
