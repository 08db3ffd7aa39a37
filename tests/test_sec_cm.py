"""Every security countermeasure ID in a block README is a `# SEC_CM:` comment in the RTL and a
test named test_sec_cm_<id> (conventions.md), and every comment's ID is in a README."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
ID = r"[A-Z]+(?:\.[A-Z_]+){2,}"


def _readme_ids():
    ids = {}
    for readme in sorted((ROOT / "rtl").glob("*/README.md")):
        text = readme.read_text()
        if "## Security countermeasures" not in text:
            continue
        section = text.split("## Security countermeasures", 1)[1].split("\n## ", 1)[0]
        for match in re.finditer(rf"^\| `({ID})` \|", section, re.MULTILINE):
            ids[match.group(1)] = readme.relative_to(ROOT)
    return ids


def _comment_ids():
    return {match.group(1)
            for source in (ROOT / "rtl").rglob("*.py")
            for match in re.finditer(rf"# SEC_CM: ({ID})", source.read_text())}


def _test_names():
    return {match.group(1)
            for source in (ROOT / "tests").rglob("test_*.py")
            for match in re.finditer(r"def (test_sec_cm_\w+)", source.read_text())}


def test_every_countermeasure_is_documented_implemented_and_tested():
    ids = _readme_ids()
    assert len(ids) >= 7, f"found only {sorted(ids)} in the block READMEs"
    comments = _comment_ids()
    tests = _test_names()
    for cm, readme in ids.items():
        assert cm in comments, f"{cm} ({readme}) has no `# SEC_CM: {cm}` comment in rtl/"
        name = "test_sec_cm_" + cm.lower().replace(".", "_")
        assert name in tests, f"{cm} ({readme}) has no test named {name}"
    assert comments <= set(ids), f"SEC_CM comments without a README entry: {sorted(comments - set(ids))}"
