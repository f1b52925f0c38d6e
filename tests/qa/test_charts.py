"""The scorecards' SVG charts: well-formed, labelled, and escaping whatever they are given."""

from __future__ import annotations

from xml.etree import ElementTree

from qa.charts import bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
WEEKS = ["03-03", "03-10", "03-17"]


def parsed(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(svg))


def test_a_line_chart_has_a_title_axes_labels_and_a_point_per_value():
    svg = line_chart(chart_id="override", title="Override rate", labels=WEEKS,
                     values=[0.1, 0.25, 0.2], value_label=lambda v: f"{v:.0%}")  # fmt: skip

    root = parsed(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert root.find(f"{SVG}title").text == "Override rate"
    assert {"Override rate", "0%", "25%", *WEEKS} <= set(texts)
    assert len(root.findall(f"{SVG}circle")) == 3
    assert len(root.findall(f"{SVG}polyline")) == 1


def test_a_week_without_a_value_breaks_the_line():
    svg = line_chart(chart_id="c", title="t", labels=[*WEEKS, "03-24"],
                     values=[0.1, 0.2, None, 0.3])  # fmt: skip

    root = parsed(svg)
    assert len(root.findall(f"{SVG}circle")) == 3
    assert len(root.findall(f"{SVG}polyline")) == 1  # the lone last point draws no segment


def test_a_bar_chart_draws_a_bar_per_value():
    svg = bar_chart(chart_id="leak", title="Money leak (USD)", labels=WEEKS,
                    values=[0, 9000, None], value_label=lambda v: f"{v / 100:.2f}")  # fmt: skip

    root = parsed(svg)
    assert len(root.findall(f"{SVG}rect")) == 2
    assert "90.00" in {t.text for t in root.iter(f"{SVG}text")}


def test_a_hostile_label_is_escaped_everywhere():
    hostile = '<script>alert("x")</script>&"'

    svg = str(line_chart(chart_id='c" onload="x', title=hostile, labels=[hostile],
                         values=[1.0], value_label=lambda v: hostile))  # fmt: skip

    assert "<script>" not in svg and 'onload="x"' not in svg
    assert "&lt;script&gt;" in svg
    root = parsed(svg)  # still well-formed
    assert root.find(f"{SVG}title").text == hostile
