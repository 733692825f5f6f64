"""`kzoo.diagnose.render` (text.py): findings are JSON and render as the text
`kzoo diagnose` prints."""

import json
import math

from kzoo import diagnose as dg


def test_findings_are_json_and_render_as_text():
    findings = dg.diagnose({"loss": [2.3, 5.0, math.nan]})
    json.dumps(findings, allow_nan=False)
    text = dg.render(findings)
    assert "lr_too_high" in text and "cure:" in text
    assert dg.render([]) == "Diagnosis: no problems found."
