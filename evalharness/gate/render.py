"""Renderings of a gate report: console lines, Markdown (pull-request comments and
``$GITHUB_STEP_SUMMARY``) and JUnit XML (one testsuite, one testcase per rule)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from evalharness.formatting import interval, number
from evalharness.gate.rules import GateReport, Verdict

MARKS = {"pass": "✅", "fail": "❌", "error": "⚠️"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _ci(low: float | None, high: float | None) -> str:
    return interval(low, high)


def _delta(v: Verdict) -> str:
    return number(v.delta, "+.4g")


def _p(v: Verdict) -> str:
    return number(v.p_value, ".3g")


def _value(v: Verdict) -> str:
    if v.value is None and v.failed_rate is not None:
        return f"{number(v.failed_rate)} failed"
    return number(v.value)


def headline(report: GateReport) -> str:
    total = len(report.verdicts)
    failed, errors = report.count("fail"), report.count("error")
    if report.status == "pass":
        text = f"gate passed: all {total} rules pass"
    elif report.status == "fail":
        text = f"gate failed: {failed} of {total} rules failed"
    else:
        text = f"gate error: {errors} of {total} rules could not be checked"
        text += f", {failed} failed" if failed else ""
    return f"{MARKS[report.status]} {text}"


def _against(report: GateReport) -> str:
    if report.baseline_id is None:
        return f"no baseline ({report.baseline_note})"
    return f"baseline {report.baseline_id} ({report.baseline_note})"


def text_lines(report: GateReport) -> list[str]:
    """The console table: one line per rule, then its reasons, then the headline."""
    lines = [f"gate {report.source}: run {report.run_id} ({report.model}), {_against(report)}"]
    tw = max([4, *(len(v.task) for v in report.verdicts)])
    rw = max([4, *(len(v.rule) for v in report.verdicts)])
    header = (
        f"{'verdict':<7}  {'task':<{tw}}  {'rule':<{rw}}  {'value':>9}  {'95% CI':<21} "
        f"{'baseline':>9} {'delta':>9} {'p':>7} {'n':>5}"
    )
    lines += [header, "-" * len(header)]
    for v in report.verdicts:
        lines.append(
            f"{v.status.upper():<7}  {v.task:<{tw}}  {v.rule:<{rw}}  {_value(v):>9}  "
            f"{_ci(v.ci_low, v.ci_high):<21} {number(v.baseline):>9} {_delta(v):>9} {_p(v):>7} "
            f"{'–' if v.n is None else v.n:>5}"
        )
        lines += [f"         {reason}" for reason in v.reasons]
    lines.append(headline(report).split(" ", 1)[1])
    return lines


def _cell(text: str) -> str:
    """Markdown table cell text: no pipes, newlines or HTML tags."""
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
    return " ".join(text.split())


def markdown(report: GateReport) -> str:
    """A headline, a table of every rule, and how the numbers were computed."""
    lines = [
        f"### {headline(report)}",
        "",
        f"Run `{report.run_id}` (model `{_cell(report.model)}`) · {_cell(_against(report))} · "
        f"gate file `{_cell(report.source)}`",
        "",
        "| | Task | Rule | Value | 95% CI | Baseline | Δ (95% CI) | p | n | Notes |",
        "|---|---|---|---:|---|---:|---|---:|---:|---|",
    ]
    for v in report.verdicts:
        delta = _delta(v)
        if v.delta is not None:
            delta += f" {_ci(v.delta_ci_low, v.delta_ci_high)}"
        n = "–" if v.n is None else str(v.n)
        if v.n_shared is not None:
            n += f" ({v.n_shared} shared)"
        cells = [
            MARKS[v.status],
            _cell(v.task),
            _cell(v.rule),
            _value(v),
            _ci(v.ci_low, v.ci_high),
            number(v.baseline),
            delta,
            _p(v),
            n,
            _cell("; ".join(v.reasons)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"<sub>Δ = candidate − baseline on the samples both runs share. p: one-sided paired "
        f"bootstrap ({report.n_boot} resamples, corpus-level) of H0: drop ≤ max_drop; a rule "
        f"fails only when the drop exceeds max_drop and p &lt; alpha.</sub>",
        "",
    ]
    return "\n".join(lines)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _details(v: Verdict) -> str:
    """``key=value`` for every number the rule has, for JUnit bodies."""
    fields = {"value": _value(v), "ci95": _ci(v.ci_low, v.ci_high), "n": v.n}
    fields |= {"baseline": number(v.baseline), "delta": _delta(v), "p": _p(v)}
    fields |= {"delta_ci95": _ci(v.delta_ci_low, v.delta_ci_high), "n_shared": v.n_shared}
    return " ".join(f"{k}={x}" for k, x in fields.items() if x not in (None, "–"))


def junit_xml(report: GateReport, suite: str = "evalharness gate") -> str:
    """One ``<testsuite>`` (inside ``<testsuites>``), one ``<testcase>`` per rule."""
    counts = {
        "tests": str(len(report.verdicts)),
        "failures": str(report.count("fail")),
        "errors": str(report.count("error")),
        "skipped": "0",
        "time": "0",
    }
    root = ET.Element("testsuites", {"name": suite, **counts})
    testsuite = ET.SubElement(root, "testsuite", {"name": suite, **counts})
    props = ET.SubElement(testsuite, "properties")
    for name, value in (
        ("gate_file", report.source),
        ("run", report.run_id),
        ("model", report.model),
        ("baseline", report.baseline_id or ""),
        ("baseline_note", report.baseline_note),
    ):
        ET.SubElement(props, "property", {"name": name, "value": _xml_text(value)})
    for v in report.verdicts:
        case = ET.SubElement(
            testsuite,
            "testcase",
            {"classname": _xml_text(v.task), "name": _xml_text(v.rule), "time": "0"},
        )
        message = _xml_text("; ".join(v.reasons))
        if v.status == "fail":
            ET.SubElement(
                case, "failure", {"message": message, "type": "GateFailure"}
            ).text = _details(v)
        elif v.status == "error":
            ET.SubElement(case, "error", {"message": message, "type": "GateError"}).text = _details(
                v
            )
        ET.SubElement(case, "system-out").text = _details(v)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
