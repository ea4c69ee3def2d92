"""PDF documents in the tenant's branding: a coloured title bar with the
tenant's name, a title, lines of text and a table.

Made with fpdf2 (pure Python, maintained, tables built in; reportlab needs
compiled parts and a far wider API than a report needs). The built-in
Helvetica font keeps the output independent of the fonts a machine has; it
carries Latin-1, so the few other characters common in German business text
are written as their nearest Latin-1 form.
"""

from __future__ import annotations

from collections.abc import Sequence

from .specs import TenantRef

# Characters outside Latin-1 that business text often has.
_LATIN1 = str.maketrans(
    {
        "€": "EUR",
        "–": "-",
        "—": "-",
        "„": '"',
        "“": '"',
        "”": '"',
        "‚": "'",
        "‘": "'",
        "’": "'",
        "…": "...",
        "•": "-",
        "\u00a0": " ",
    }
)


def latin1(text) -> str:
    return str(text).translate(_LATIN1).encode("latin-1", errors="replace").decode("latin-1")


def _rgb(colour: str) -> tuple[int, int, int]:
    try:
        value = colour.lstrip("#")
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except (ValueError, IndexError, AttributeError):
        return 31, 111, 235


def document(
    tenant: TenantRef,
    title: str,
    *,
    lines: Sequence[str] = (),
    table: tuple[Sequence[str], Sequence[Sequence[object]]] | None = None,
    footer: str = "",
) -> bytes:
    """The PDF as bytes. ``table`` is (header, rows); an empty table says so."""
    # fpdf2 loads fontTools and PIL (about 0.2 s of CPU): only the process
    # that makes a PDF pays for it, not every worker at start (issue 15).
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(latin1(title))
    pdf.set_author(latin1(tenant.name))
    pdf.set_creator("Postwerk")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    colour = _rgb(tenant.colour)
    # Branding: the tenant's colour as a bar with its name.
    pdf.set_fill_color(*colour)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 11, latin1(tenant.name), fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 10)
    for line in lines:
        pdf.multi_cell(0, 5.5, latin1(line), new_x="LMARGIN", new_y="NEXT")
    if table is not None:
        header, rows = table
        pdf.ln(3)
        if rows:
            heading = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=colour)
            with pdf.table(headings_style=heading, line_height=6, text_align="LEFT") as grid:
                grid.row([latin1(h) for h in header])
                for row in rows:
                    grid.row([latin1("" if cell is None else cell) for cell in row])
        else:
            pdf.set_font("Helvetica", "I", 10)
            pdf.cell(0, 6, "-", new_x="LMARGIN", new_y="NEXT")
    if footer:
        pdf.ln(4)
        pdf.set_font("Helvetica", "I", 8)
        pdf.set_text_color(90, 90, 90)
        pdf.multi_cell(0, 4.5, latin1(footer), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
