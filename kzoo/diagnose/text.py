"""The findings of `kzoo.diagnose` as the text `kzoo diagnose` and `kzoo train` print."""


def render(findings):
    """The findings as text; one line saying so when there are none."""
    if not findings:
        return "Diagnosis: no problems found."
    lines = [f"Diagnosis: {len(findings)} problem(s) found."]
    for f in findings:
        lines.append(f"- {f['kind']}: {f['message']}")
        lines.append(f"  cure: {f['cure']}")
    return "\n".join(lines)
