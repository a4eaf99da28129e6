"""Quality of the customer's pages: small, self-contained, script-free, accessible, readable."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from survey_app.extensions import db
from tests import factories

CSS_PATH = Path(__file__).resolve().parents[1] / "survey_app" / "static" / "survey.css"
PAGE_BUDGET = 50 * 1024
PAGE_BACKGROUND = "#ffffff"


class Page(HTMLParser):
    """The tags of an HTML page as (name, attributes) pairs, plus the text of each <label>."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open_fieldsets = 0
        self.radios_outside_fieldset = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "fieldset":
            self.open_fieldsets += 1
        if tag == "input" and attributes.get("type") == "radio" and not self.open_fieldsets:
            self.radios_outside_fieldset += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "fieldset":
            self.open_fieldsets -= 1

    def all(self, name: str) -> list[dict[str, str | None]]:
        return [attributes for tag, attributes in self.tags if tag == name]


@pytest.fixture
def pages(app, client) -> dict[str, object]:
    """Every page a customer can see, in Dutch and English, as test-client responses."""
    with app.app_context():
        _, token = factories.invitation()
        _, answered = factories.invitation()
        db.session.commit()
    client.post(f"/s/{answered}", data={"score": "3", "comment": "De vestiging was dicht"})
    result = {}
    for language in ("nl", "en"):
        result[f"answer-{language}"] = client.get(f"/s/{token}?score=9&lang={language}")
        result[f"thanks-{language}"] = client.get(f"/s/{answered}/thanks?lang={language}")
        result[f"invalid-{language}"] = client.get(f"/s/{'A' * 43}?lang={language}")
        result[f"privacy-{language}"] = client.get(f"/privacy?lang={language}")
    return result


def test_every_survey_page_with_its_stylesheet_stays_under_50_kb(pages):
    css = CSS_PATH.read_bytes()
    for name, reply in pages.items():
        stylesheets = [tag["href"] for tag in Page(reply.get_data(as_text=True)).all("link")]
        assert stylesheets == ["/static/survey.css"], name
        assert len(reply.get_data()) + len(css) < PAGE_BUDGET, name


def test_pages_load_nothing_from_another_host(pages):
    for name, reply in pages.items():
        page = Page(reply.get_data(as_text=True))
        for tag, attributes in page.tags:
            for attribute in ("src", "href", "action", "srcset", "poster", "data"):
                value = attributes.get(attribute)
                if value is not None:
                    parts = urlsplit(value)
                    assert not parts.netloc and parts.scheme in ("", "mailto"), f"{name}: <{tag} {attribute}={value}>"
    css = CSS_PATH.read_text()
    assert "@import" not in css and not re.search(r"url\(\s*['\"]?(?:[a-z]+:)?//", css, re.I)


def test_pages_have_no_script_no_inline_style_and_a_strict_policy(pages):
    for name, reply in pages.items():
        page = Page(reply.get_data(as_text=True))
        assert page.all("script") == [] and page.all("style") == [], name
        assert not [tag for tag, attributes in page.tags if "style" in attributes or any(
            key.startswith("on") for key in attributes)], name
        assert reply.headers["Referrer-Policy"] == "same-origin", name
        policy = reply.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in policy and "script-src 'self'" in policy, name


def test_the_pages_are_mobile_first(pages):
    for name, reply in pages.items():
        viewports = Page(reply.get_data(as_text=True)).all("meta")
        assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in viewports, name
    # Small screens get the base rules; wider ones only add to them.
    assert re.findall(r"@media[^{]*", CSS_PATH.read_text()) and all(
        "min-width" in query and "max-width" not in query for query in re.findall(r"@media[^{]*", CSS_PATH.read_text())
    )


def test_every_field_has_a_label_and_the_scale_is_a_fieldset_with_a_legend(pages):
    for language in ("nl", "en"):
        html = pages[f"answer-{language}"].get_data(as_text=True)
        page = Page(html)
        labelled = {label["for"] for label in page.all("label")}
        fields = [tag for tag in page.all("input") if tag.get("type") != "hidden"] + page.all("textarea")
        assert len(fields) == 12  # eleven scores and the comment
        for field in fields:
            assert field.get("id") in labelled, field
        radios = [field for field in fields if field.get("type") == "radio"]
        assert {radio["name"] for radio in radios} == {"score"} and page.radios_outside_fieldset == 0
        assert re.search(r"<fieldset[^>]*>\s*<legend>[^<]+</legend>", html)
        assert page.all("html")[0]["lang"] == language


# --- Contrast: the WCAG 2.1 formula applied to the colours survey.css actually uses. ---

NAMED_COLOURS = {"white": "#ffffff", "black": "#000000"}
COLOUR = r"#[0-9a-fA-F]{3,6}\b|\bwhite\b|\bblack\b"


def css_rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """Return (selector, declarations) for every rule, media queries flattened."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"@media[^{]*{((?:[^{}]*{[^{}]*})*)\s*}", r"\1", css)
    rules = []
    for selector, body in re.findall(r"([^{}]+){([^{}]*)}", css):
        declarations = {}
        for declaration in body.split(";"):
            if ":" in declaration:
                name, value = declaration.split(":", 1)
                declarations[name.strip()] = value.strip()
        rules.append((" ".join(selector.split()), declarations))
    return rules


def colour_in(value: str) -> str | None:
    found = re.search(COLOUR, value)
    if not found:
        return None
    colour = NAMED_COLOURS.get(found.group(0).lower(), found.group(0).lower())
    if len(colour) == 4:
        colour = "#" + "".join(character * 2 for character in colour[1:])
    return colour


def luminance(colour: str) -> float:
    channels = [int(colour[index:index + 2], 16) / 255 for index in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_contrast_formula_matches_wcag_reference_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near miss
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def colour_pairs(css: str) -> list[tuple[str, str, str, float]]:
    """Return (where, foreground, background, required ratio) for every colour the CSS sets."""
    pairs = []
    for selector, declarations in css_rules(css):
        background = colour_in(declarations.get("background", declarations.get("background-color", "")))
        behind = background or PAGE_BACKGROUND
        if "color" in declarations:
            # Normal-size text everywhere (no text here is 24px, or bold and 18.66px, or larger).
            pairs.append((f"{selector} text", colour_in(declarations["color"]), behind, 4.5))
        for name in ("outline", "outline-color", "border", "border-color"):
            if colour_in(declarations.get(name, "")):
                # Focus rings and control edges sit against the page: non-text contrast, 3:1.
                pairs.append((f"{selector} {name}", colour_in(declarations[name]), PAGE_BACKGROUND, 3.0))
        if background and "color" not in declarations:
            # A filled control without its own text colour shows the inherited body text on it.
            pairs.append((f"{selector} inherited text", body_colour(css), background, 4.5))
    return pairs


def body_colour(css: str) -> str:
    [colour] = [colour_in(declarations["color"]) for selector, declarations in css_rules(css) if selector == "body"]
    assert colour is not None
    return colour


def test_every_colour_pair_in_the_stylesheet_meets_wcag_aa():
    css = CSS_PATH.read_text()
    pairs = colour_pairs(css)
    assert len(pairs) >= 10  # the parser really found the stylesheet's colours
    failures = [
        f"{where}: {foreground} on {background} is {contrast(foreground, background):.2f}:1, needs {needed}:1"
        for where, foreground, background, needed in pairs
        if contrast(foreground, background) < needed
    ]
    assert failures == []


def test_a_low_contrast_colour_would_be_caught():
    pairs = colour_pairs(".hint { color: #aaaaaa; }\n.ring:focus-visible { outline: 3px solid #cccccc; }")
    assert [contrast(foreground, background) < needed for _, foreground, background, needed in pairs] == [True, True]


def test_every_focusable_element_has_a_visible_focus_style():
    selectors = " ".join(selector for selector, declarations in css_rules(CSS_PATH.read_text())
                         if ":focus-visible" in selector and colour_in(declarations.get("outline", "")))
    for element in (".options input:focus-visible + label", "textarea:focus-visible", "a:focus-visible",
                    ".submit:focus-visible"):
        assert element in selectors
