"""The attachment parser: type checks against magic bytes, text extraction, smart truncation.

Test files are built with the real writers (python-docx, openpyxl, python-pptx, Pillow, pypdf
for encryption); the PDF with text is written by hand. The builders are imported by the API
tests too.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from tasks.attachments import parser

# --- builders -------------------------------------------------------------------------------------


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one Helvetica text line per page."""
    count = len(pages)
    font_id = 3 + 2 * count
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        (
            "<< /Type /Pages /Kids ["
            + " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
            + f"] /Count {count} >>"
        ).encode(),
    ]
    for index, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {4 + 2 * index} 0 R >>"
            ).encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_encrypted_pdf(text: str = "secret text") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([text]))))
    writer.encrypt(user_password="user-pass", owner_password="owner-pass", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_xlsx(rows: list[list[object]], title: str = "Data") -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def make_pptx(titles: list[str]) -> bytes:
    from pptx import Presentation

    presentation = Presentation()
    for title in titles:
        slide = presentation.slides.add_slide(presentation.slide_layouts[0])
        slide.shapes.title.text = title
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def make_png(width: int = 4, height: int = 3) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def parse(name: str, data: bytes, limit: int = 500_000) -> parser.Parsed:
    return parser.parse_upload(name, io.BytesIO(data), max_text_length=limit)


def failure(name: str, data: bytes) -> parser.ParseFailure:
    with pytest.raises(parser.ParseFailure) as caught:
        parse(name, data)
    return caught.value


# --- extraction -----------------------------------------------------------------------------------


def test_plain_text_markdown_csv_json_and_code():
    assert parse("a.txt", "héllo\nworld".encode()).text == "héllo\nworld"
    md = parse("notes.md", b"# Title\n\nbody")
    assert (md.kind, md.mime_type, md.extension) == ("text", "text/markdown", ".md")
    assert parse("t.csv", b"a,b\n1,2\n").mime_type == "text/csv"
    assert parse("d.json", b'{"a": 1}').mime_type == "application/json"
    code = parse("main.py", b"print('hi')\n")
    assert (code.kind, code.extension, code.text) == ("text", ".py", "print('hi')\n")
    assert code.mime_type.startswith("text/")
    assert parse("Makefile", b"all:\n\ttrue\n").extension == ""


def test_text_in_other_encodings():
    chinese = "中文内容\u3001测试编码识别\u3002这是一个较长的句子\u3002"
    assert parse("gbk.txt", chinese.encode("gb18030")).text == chinese
    assert parse("u16.txt", "wide text".encode("utf-16")).text == "wide text"
    assert parse("bom.txt", "\ufeffwith bom".encode()).text == "with bom"


def test_text_that_starts_like_a_magic_number_is_still_text():
    # filetype calls anything starting with "BM" a BMP and "ID3" an MP3.
    assert parse("cars.txt", b"BMW and Audi\n").text == "BMW and Audi\n"
    assert parse("tags.md", b"ID3 tags explained\n").kind == "text"


def test_empty_text_file_is_accepted_with_no_text():
    result = parse("empty.txt", b"")
    assert (result.text, result.truncation) == ("", None)


def test_pdf_text_from_every_page():
    result = parse("doc.pdf", make_pdf(["First page words", "Second page words"]))
    assert (result.kind, result.mime_type) == ("pdf", "application/pdf")
    assert "First page words" in result.text and "Second page words" in result.text
    assert result.text.index("First") < result.text.index("Second")


def test_docx_paragraphs_and_tables_in_order():
    result = parse("r.docx", make_docx(["Intro paragraph"], [["Name", "Age"], ["Ann", "30"]]))
    assert result.mime_type == parser.DOCX_MIME
    assert "Intro paragraph" in result.text
    assert "Name | Age" in result.text and "Ann | 30" in result.text
    assert result.text.index("Intro") < result.text.index("Ann")


def test_xlsx_rows_per_sheet():
    result = parse("s.xlsx", make_xlsx([["city", "pop"], ["Oslo", 700000], [None, None]], title="Cities"))
    assert "## Sheet: Cities" in result.text
    assert "city\tpop" in result.text and "Oslo\t700000" in result.text


def test_pptx_slide_titles():
    result = parse("p.pptx", make_pptx(["Welcome slide", "Closing slide"]))
    assert "## Slide 1" in result.text and "Welcome slide" in result.text
    assert result.text.index("Welcome") < result.text.index("Closing")


def test_image_keeps_metadata_not_pixels():
    result = parse("photo.png", make_png(5, 7))
    assert result.is_image and result.mime_type == "image/png"
    assert result.image == {"width": 5, "height": 7, "format": "PNG", "mode": "RGB"}
    assert "5x7" in result.text and len(result.text) < 200


def test_image_type_follows_the_bytes():
    # A PNG named .jpg is still an image; the vision model must be told its real type.
    assert parse("photo.jpg", make_png()).mime_type == "image/png"


def test_zip_lists_its_files():
    result = parse("bundle.zip", make_zip({"a.txt": b"x", "dir/b.bin": b"yy"}))
    assert "[ZIP archive: 2 files]" in result.text and "dir/b.bin (2 bytes)" in result.text


def test_nul_characters_never_reach_the_text():
    assert "\x00" not in parse("x.txt", b"a" * 10).text
    collector = parser.TextCollector(100)
    collector.add("a\x00b")
    assert collector.result() == ("ab", None)


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("fake.pdf", EXE, parser.UNSUPPORTED_TYPE),
        ("fake.pdf", make_zip({"a.txt": b"x"}), parser.UNSUPPORTED_TYPE),
        ("fake.txt", make_png(), parser.UNSUPPORTED_TYPE),
        ("fake.png", b"just some text", parser.UNSUPPORTED_TYPE),
        ("fake.docx", make_xlsx([["a"]]), parser.UNSUPPORTED_TYPE),
        ("fake.xlsx", make_zip({"a.txt": b"x"}), parser.UNSUPPORTED_TYPE),
        ("fake.zip", EXE, parser.UNSUPPORTED_TYPE),
        ("program.exe", EXE, parser.UNRECOGNIZED_TYPE),
        ("blob", bytes(range(256)) * 4, parser.UNRECOGNIZED_TYPE),
    ],
)
def test_bytes_that_contradict_the_extension_are_refused(name, data, code):
    assert failure(name, data).code == code


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("broken.pdf", b"%PDF-1.4\n" + b"\x00garbage\xff" * 50),
        ("broken.docx", make_docx(["x"])[:400]),
        ("broken.xlsx", make_xlsx([["x"]])[:-200]),
        ("broken.pptx", make_pptx(["x"])[: len(make_pptx(["x"])) // 2]),
        ("broken.png", make_png()[:30]),
        ("broken.zip", make_zip({"a": b"x"})[:-30]),
    ],
)
def test_corrupt_files_fail_to_parse(name, data):
    assert failure(name, data).code == parser.PARSE_FAILED


def test_encrypted_pdf():
    assert failure("locked.pdf", make_encrypted_pdf()).code == parser.ENCRYPTED_PDF


@pytest.mark.parametrize(
    ("name", "code"),
    [("a.doc", parser.LEGACY_DOC), ("a.xls", parser.LEGACY_XLS), ("a.ppt", parser.LEGACY_PPT)],
)
def test_legacy_office_formats(name, code):
    assert failure(name, b"\xd0\xcf\x11\xe0" + b"\x00" * 100).code == code


def test_office_archive_that_expands_too_far(monkeypatch):
    monkeypatch.setattr(parser, "MAX_EXPANDED_PART", 10)
    assert failure("big.docx", make_docx(["x" * 100])).code == parser.PARSE_FAILED


# --- truncation -----------------------------------------------------------------------------------


def test_short_text_is_not_truncated():
    result = parse("a.txt", b"x" * 1000, limit=1000)
    assert result.truncation is None and len(result.text) == 1000


def test_long_text_keeps_head_and_tail_lines_within_the_limit():
    lines = [f"line {n:05d}" for n in range(20_000)]
    text = "\n".join(lines) + "\n"
    result = parse("long.txt", text.encode(), limit=5000)
    assert result.truncation is not None
    assert result.truncation.original_length == len(text)
    assert result.truncation.truncated_length == len(result.text) <= 5000
    assert result.text.startswith("line 00000\nline 00001\n")
    assert result.text.endswith("line 19999\n")
    assert "characters omitted: content truncated" in result.text
    # Cuts fall on line breaks: every kept line is whole.
    kept = [line for line in result.text.splitlines() if line.startswith("line ")]
    assert all(len(line) == len("line 00000") for line in kept)
    assert result.truncation.as_info() == {
        "is_truncated": True,
        "original_length": len(text),
        "truncated_length": len(result.text),
        "truncation_message_key": "content_truncated",
    }


def test_truncation_applies_to_documents_too():
    result = parse("big.xlsx", make_xlsx([[f"row{n}", n] for n in range(3000)]), limit=2000)
    assert result.truncation is not None and len(result.text) <= 2000
    assert "row0\t0" in result.text and "row2999\t2999" in result.text


def test_collector_with_a_limit_too_small_for_a_marker():
    collector = parser.TextCollector(10)
    collector.add("abcdefghijklmnop")
    text, truncation = collector.result()
    assert text == "abcdefghij" and truncation == parser.Truncation(16, 10)


def test_collector_streams_many_small_pieces():
    collector = parser.TextCollector(300)
    for n in range(10_000):
        collector.add(f"{n}\n")
    text, truncation = collector.result()
    assert truncation is not None and len(text) <= 300
    assert text.startswith("0\n1\n") and text.endswith("9999\n")
