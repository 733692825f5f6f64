"""Reading the files kzoo reads (data files, run files, the checksum cache), so
that a decode or parse error becomes one kzoo error naming the path, the line
where there is one, and the fix, instead of a codec or parser message.

Keras-free and numpy-free: the CLI may use it before a backend loads.
"""

import csv
import io
import json
import pathlib

from kzoo.runtime.errors import DataError

BOM = "\ufeff"


def read_text(path, fix, error=DataError):
    """The UTF-8 text of `path` (a byte-order mark dropped; newlines as written).

    Raises:
        error: naming the path and the line of the first byte that is not UTF-8,
            with `fix`.
    """
    path = pathlib.Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise error(f"{path}, line {line}: not UTF-8 text (byte 0x{data[err.start]:02x}); "
                    f"{fix}.") from None
    return text.removeprefix(BOM)


def read_json(path, fix, error=DataError):
    """The JSON value of `path`; a decode or parse error names the path and line."""
    text = read_text(path, fix, error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{path}, line {err.lineno}: not valid JSON ({err.msg}); {fix}.") from None


def read_csv_rows(path, fix, error=DataError):
    """`[(line number, cells), ...]` of the non-blank rows of a CSV file."""
    text = read_text(path, fix, error)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            if any(c.strip() for c in row):
                rows.append((reader.line_num, row))
    except csv.Error as err:
        raise error(f"{path}, line {reader.line_num}: not a valid CSV row ({err}); "
                    f"{fix}.") from None
    return rows


def read_csv_dicts(path, fix, error=DataError):
    """The rows of a CSV file with a header, as dicts of strings (`csv.DictReader`)."""
    rows = read_csv_rows(path, fix, error)
    if not rows:
        return []
    header = rows[0][1]
    out = []
    for line, row in rows[1:]:
        if len(row) > len(header):
            raise error(f"{path}, line {line}: {len(row)} cells but the header has "
                        f"{len(header)}; {fix}.")
        out.append(dict(zip(header, row + [""] * (len(header) - len(row)), strict=True)))
    return out
