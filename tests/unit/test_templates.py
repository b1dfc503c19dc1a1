"""Message templates (SPEC §6): front matter, plain text, layouts, locales, SMS, escaping, the sandbox, problems."""

from __future__ import annotations

import re

from typing import Any

import pytest

from engine.testing import Harness, email
from rules.problems import WorkspaceError
from rules.templates import TemplateSet

T0 = "2026-03-02T12:00:00Z"
ANN = {"email": "ann@example.com", "first_name": "Ann", "phone": "+15551234567", "sms_subscribed": True}
CTX: dict[str, Any] = {"profile": {"first_name": "Ann"}, "event": {}, "trigger_event": {}, "activity": {},
                       "journey": {"id": "j"}, "now": None}
BASE = """<html>
<head><title>Shop</title><style>p {color: red}</style></head>
<body>
<span style="display:none">{% block preheader %}{% endblock %}</span>
{% block content %}{% endblock %}
<p>{% block footer %}1 Main St{% endblock %}</p>
</body>
</html>
"""
EMAIL_JOURNEY = """
id: j
trigger: {event: go}
steps:
  - send: email
    template: t
"""
SMS_JOURNEY = """
id: j
trigger: {event: go}
steps:
  - send: sms
    template: t
"""


def body_text(text: str) -> str:
    """The plain text without the unsubscribe line added to a marketing email that lacks one."""
    return re.sub(r"\n\nUnsubscribe \(https://nudge\.invalid/u/[^)]+\)$", "", text)


def send(templates: dict[str, str], traits: dict[str, Any] | None = None, channel: str = "email",
         **properties: Any) -> dict[str, Any]:
    """Render template `t` through a one-step journey; the send record."""
    journey = EMAIL_JOURNEY if channel == "email" else SMS_JOURNEY
    h = Harness(journeys={"j": journey}, templates=templates)
    # traits come as a profile: events refuse a locale that is not BCP 47 (SPEC §8), older state may hold one
    h.run([{"type": "go", "customer_id": "c1", "timestamp": T0, "properties": properties}],
          profiles=[("c1", {**ANN, **(traits or {})})])
    [record] = h.of("send")
    return record


def problems(files: dict[str, str]) -> list[str]:
    return [str(p) for p in TemplateSet(files).problems]


# ---- front matter and the plain-text part ---------------------------------------------------

def test_subject_preheader_and_text_come_from_the_front_matter() -> None:
    source = ('---\nsubject: "Hello {{ profile.first_name }}"\npreheader: "Just for {{ profile.first_name }}"\n'
              'text: "Hi {{ profile.first_name }}, see the site."\n---\n<p>Hi <b>{{ profile.first_name }}</b></p>\n')
    rendered = TemplateSet({"t.email.html": source}).render("t", "email", None, CTX)
    assert (rendered.subject, rendered.preheader, rendered.text) == ("Hello Ann", "Just for Ann", "Hi Ann, see the site.")
    assert rendered.html is not None and rendered.html.strip() == "<p>Hi <b>Ann</b></p>"


def test_the_subject_is_one_line_however_it_is_written() -> None:
    source = "---\nsubject: >\n  Hello\n  {{ profile.first_name }}\n---\n<p>x</p>\n"
    assert TemplateSet({"t.email.html": source}).render("t", "email", None, CTX).subject == "Hello Ann"


def test_without_text_the_plain_text_part_is_derived_from_the_html() -> None:
    body = ('<h1>Welcome, {{ profile.first_name }}</h1><p>Your cart is waiting.</p>'
            '<ul><li>Tea</li><li>Cups</li></ul><p><a href="https://shop.example/cart">See your cart</a></p>')
    record = send({"t.email.html": email("Hi", body)})
    assert body_text(record["text"]) == "Welcome, Ann\n\nYour cart is waiting.\n\n- Tea\n- Cups\n\nSee your cart (https://shop.example/cart)"


def test_the_derived_text_leaves_out_head_styles_and_hidden_preheaders() -> None:
    templates = {"layouts/base.email.html": BASE,
                 "t.email.html": email("Hi", '{% extends "layouts/base.email.html" %}'
                                             "{% block preheader %}Secret preview{% endblock %}"
                                             "{% block content %}<p>Body text</p>{% endblock %}")}
    assert body_text(send(templates)["text"]) == "Body text\n\n1 Main St"


def test_a_missing_preheader_is_none() -> None:
    rendered = TemplateSet({"t.email.html": email("Hi")}).render("t", "email", None, CTX)
    assert rendered.preheader is None


def test_the_subject_and_text_are_rendered_in_the_simulate_record() -> None:
    record = send({"t.email.html": email("Order {{ event.properties.order_id }}")}, order_id="o1")
    assert (record["status"], record["subject"], body_text(record["text"])) == ("sent", "Order o1", "Hello")


# ---- layouts ------------------------------------------------------------------------------

def test_an_email_can_extend_a_layout_and_fill_its_blocks() -> None:
    templates = {"layouts/base.email.html": BASE,
                 "t.email.html": email("Hi", '{% extends "layouts/base.email.html" %}'
                                             "{% block content %}<p>Hi {{ profile.first_name }}</p>{% endblock %}"
                                             "{% block footer %}{{ super() }}, Springfield{% endblock %}")}
    rendered = TemplateSet(templates).render("t", "email", None, CTX)
    assert rendered.html is not None
    assert "<title>Shop</title>" in rendered.html and "<p>Hi Ann</p>" in rendered.html
    assert "<p>1 Main St, Springfield</p>" in rendered.html


def test_a_layout_is_not_a_template_a_journey_can_send() -> None:
    ts = TemplateSet({"layouts/base.email.html": BASE, "t.email.html": email("Hi")})
    assert ts.has("t", "email") and not ts.has("base", "email") and not ts.has("layouts/base", "email")


def test_a_layout_sees_the_same_variables_as_the_email() -> None:
    templates = {"layouts/base.email.html": "<p>{{ profile.first_name }}</p>{% block content %}{% endblock %}",
                 "t.email.html": email("Hi", '{% extends "layouts/base.email.html" %}{% block content %}!{% endblock %}')}
    assert body_text(send(templates)["text"]) == "Ann\n\n!"


# ---- locales ------------------------------------------------------------------------------

LOCALES = {
    "t.email.html": email("Hello"),
    "t.pt.email.html": email("Olá"),
    "t.pt-BR.email.html": email("Oi"),
    "t.fr.email.html": email("Bonjour"),
}


@pytest.mark.parametrize(("locale", "subject"), [
    ("pt-BR", "Oi"),        # exact tag
    ("pt-br", "Oi"),        # tags are case-insensitive
    ("PT_BR", "Oi"),        # and an underscore is a hyphen
    ("pt-PT", "Olá"),       # then the language
    ("pt", "Olá"),
    ("fr-CA", "Bonjour"),
    ("de", "Hello"),        # then the plain file
    ("", "Hello"),
    (None, "Hello"),
])
def test_the_locale_variant_is_the_exact_tag_then_the_language_then_the_plain_file(locale: str | None, subject: str) -> None:
    traits = {"locale": locale} if locale is not None else {}
    assert send(LOCALES, traits)["subject"] == subject


def test_a_locale_that_is_not_text_gets_the_plain_file() -> None:
    assert send(LOCALES, {"locale": 42})["subject"] == "Hello"


def test_the_language_does_not_fall_back_to_a_regional_variant() -> None:
    # `pt` asks for Portuguese in general: `pt-BR` is not its fallback, the plain file is.
    templates = {"t.email.html": email("Hello"), "t.pt-BR.email.html": email("Oi")}
    assert send(templates, {"locale": "pt"})["subject"] == "Hello"


def test_a_locale_tag_in_the_file_name_is_case_insensitive() -> None:
    templates = {"t.email.html": email("Hello"), "t.PT-br.email.html": email("Oi")}
    assert send(templates, {"locale": "pt-BR"})["subject"] == "Oi"


def test_sms_templates_have_locale_variants_too() -> None:
    templates = {"t.sms.txt": "Hi", "t.fr.sms.txt": "Salut"}
    assert send(templates, {"locale": "fr-FR"}, channel="sms")["text"] == "Salut"


# ---- SMS ------------------------------------------------------------------------------------

def test_an_sms_is_stripped_of_surrounding_white_space() -> None:
    templates = {"t.sms.txt": "\n\n   {% if profile.first_name %}\n  Hi {{ profile.first_name }}!\n{% endif %}   \n\n"}
    assert send(templates, channel="sms")["text"] == "Hi Ann!"


def test_an_sms_keeps_its_inner_line_breaks() -> None:
    assert send({"t.sms.txt": " Line one\nLine two \n"}, channel="sms")["text"] == "Line one\nLine two"


def test_an_sms_is_not_html_escaped() -> None:
    record = send({"t.sms.txt": "Hi {{ profile.first_name }}"}, {"first_name": "Tom & <Jerry>"}, channel="sms")
    assert record["text"] == "Hi Tom & <Jerry>"


# ---- escaping -------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"


def test_a_trait_is_escaped_in_the_html_body() -> None:
    ts = TemplateSet({"t.email.html": email("Hi {{ profile.first_name }}", "<p>{{ profile.first_name }}</p>")})
    rendered = ts.render("t", "email", None, {**CTX, "profile": {"first_name": SCRIPT}})
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in rendered.html


def test_the_subject_is_plain_text_and_not_escaped() -> None:
    ts = TemplateSet({"t.email.html": email("Hi {{ profile.first_name }}", "<p>{{ profile.first_name }}</p>")})
    rendered = ts.render("t", "email", None, {**CTX, "profile": {"first_name": "Tom & <Jerry>"}})
    assert rendered.subject == "Hi Tom & <Jerry>"


def test_the_derived_text_shows_an_escaped_trait_as_the_customer_wrote_it() -> None:
    record = send({"t.email.html": email("Hi", "<p>Hi {{ profile.first_name }}</p>")}, {"first_name": SCRIPT})
    assert body_text(record["text"]) == f"Hi {SCRIPT}"


def test_a_layout_escapes_traits_as_well() -> None:
    templates = {"layouts/base.email.html": "<p>{{ profile.first_name }}</p>{% block content %}{% endblock %}",
                 "t.email.html": email("Hi", '{% extends "layouts/base.email.html" %}')}
    rendered = TemplateSet(templates).render("t", "email", None, {**CTX, "profile": {"first_name": SCRIPT}})
    assert rendered.html is not None and "<script>" not in rendered.html


def test_markup_written_in_the_template_itself_is_not_escaped() -> None:
    ts = TemplateSet({"t.email.html": email("Hi", '<a href="https://shop.example/?a=1&amp;b=2">Shop</a>')})
    rendered = ts.render("t", "email", None, CTX)
    assert rendered.html is not None and '<a href="https://shop.example/?a=1&amp;b=2">Shop</a>' in rendered.html


# ---- the sandbox -------------------------------------------------------------------------------

@pytest.mark.parametrize("expression", [
    "profile.__class__",
    "''.__class__.__mro__",
    "profile.__class__.__init__.__globals__",
    "cycler.__init__.__globals__",
    "lipsum.__globals__",
    "'{0.__class__}'.format(profile)",
])
def test_the_sandbox_refuses_private_attributes_as_a_template_error(expression: str) -> None:
    record = send({"t.sms.txt": "[{{ " + expression + " }}]"}, channel="sms")
    assert (record["status"], record["reason"]) == ("failed", "template_error")
    assert "SecurityError" in record["error"] and record["text"] is None


@pytest.mark.parametrize("source", [
    "{{ profile.update({'email': 'evil@example.com'}) }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
    "{{ profile.pop('email') }}",
])
def test_the_sandbox_refuses_unsafe_calls_as_a_template_error(source: str) -> None:
    record = send({"t.sms.txt": source}, channel="sms")
    assert (record["status"], record["reason"]) == ("failed", "template_error")
    assert "SecurityError" in record["error"] or "unsafe" in record["error"]


def test_a_refused_mutation_leaves_the_profile_untouched() -> None:
    journey = SMS_JOURNEY + "  - send: email\n    template: e\n"
    h = Harness(journeys={"j": journey},
                templates={"t.sms.txt": "{{ profile.update({'email': 'evil@example.com'}) }}", "e.email.html": email("Hi")})
    h.run([{"type": "go", "customer_id": "c1", "timestamp": T0, "traits": ANN}])
    assert [(r["channel"], r["status"], r["to"]) for r in h.of("send")] == [
        ("sms", "failed", "+15551234567"), ("email", "sent", "ann@example.com"),
    ]


def test_a_missing_trait_fails_the_send_instead_of_sending_hi_comma() -> None:
    record = send({"t.sms.txt": "Hi {{ profile.nickname }}, welcome!"}, channel="sms")
    assert (record["status"], record["reason"]) == ("failed", "template_error")
    assert "'nickname' is missing" in record["error"] and "default" in record["error"]


def test_after_a_send_fails_on_a_missing_value_the_journey_goes_on() -> None:
    journey = SMS_JOURNEY + "  - send: email\n    template: e\n"
    h = Harness(journeys={"j": journey},
                templates={"t.sms.txt": "Hi {{ profile.nickname }}", "e.email.html": email("Hi")})
    h.run([{"type": "go", "customer_id": "c1", "timestamp": T0, "traits": ANN}])
    assert [(r["template"], r["status"], r["reason"]) for r in h.of("send")] == [
        ("t", "failed", "template_error"), ("e", "sent", None)]
    assert h.of("exited", reason="completed")


def test_a_missing_trait_with_a_default_renders_the_default() -> None:
    template = "Hi {{ profile.nickname | default('friend') }}{% if profile.title %} {{ profile.title }}{% endif %}!"
    assert send({"t.sms.txt": template}, channel="sms")["text"] == "Hi friend!"


def test_a_missing_value_in_an_email_subject_fails_the_send() -> None:
    record = send({"t.email.html": email("Still thinking it over, {{ profile.nickname }}?")})
    assert (record["status"], record["reason"]) == ("failed", "template_error")


def test_a_run_time_error_is_a_failed_send_with_the_error() -> None:
    record = send({"t.email.html": email("Hi", "{{ 1 // 0 }}")})
    assert (record["status"], record["reason"]) == ("failed", "template_error")
    assert "ZeroDivisionError" in record["error"]


def test_an_sms_template_sees_no_unsubscribe_url() -> None:
    assert send({"t.sms.txt": "[{{ unsubscribe_url }}]"}, channel="sms")["text"] == "[]"


# ---- problems at load ------------------------------------------------------------------------

def test_a_missing_layout_is_a_problem_with_the_template_path_and_line() -> None:
    source = '---\nsubject: Hi\n---\n{% extends "layouts/nope.email.html" %}\n'
    assert problems({"t.email.html": source}) == [
        "templates/t.email.html:4:1: template 'layouts/nope.email.html' does not exist in templates/",
    ]


def test_a_syntax_error_in_the_body_names_its_line_counting_the_front_matter() -> None:
    source = "---\nsubject: Hi\n---\n<p>\n{{ profile.first_name | }}\n</p>\n"
    [problem] = problems({"t.email.html": source})
    assert problem.startswith("templates/t.email.html:5:1: ")


def test_a_syntax_error_in_a_layout_names_the_layout() -> None:
    layout = "<html>\n<body>\n{% block content %}{% endblock %\n</body>\n"
    found = problems({"layouts/base.email.html": layout,
                      "t.email.html": email("Hi", '{% extends "layouts/base.email.html" %}')})
    assert [p.split(": ")[0] for p in found] == ["templates/layouts/base.email.html:3:1"]


def test_a_syntax_error_in_an_sms_names_its_line() -> None:
    [problem] = problems({"t.sms.txt": "Hi\n{% if %}\n"})
    assert problem.startswith("templates/t.sms.txt:2:1: ")


def test_a_syntax_error_in_the_subject_is_a_problem() -> None:
    [problem] = problems({"t.email.html": '---\nsubject: "Hi {{ profile.first_name "\n---\n<p>x</p>\n'})
    assert problem.startswith("templates/t.email.html:2:1: invalid subject")


def test_an_email_without_front_matter_or_subject_is_a_problem() -> None:
    assert problems({"a.email.html": "<p>hi</p>", "b.email.html": "---\ntext: hi\n---\n<p>hi</p>"}) == [
        "templates/a.email.html:1:1: an email template starts with front matter between '---' lines holding 'subject'",
        "templates/b.email.html:1:1: front matter needs a 'subject'",
    ]


def test_an_unknown_front_matter_key_is_a_problem_not_ignored() -> None:
    [problem] = problems({"t.email.html": "---\nsubject: Hi\nsubjet: typo\n---\n<p>x</p>\n"})
    assert problem.startswith("templates/t.email.html:") and "unknown front matter key 'subjet'" in problem


def test_a_workspace_with_a_broken_template_is_rejected_as_a_whole() -> None:
    with pytest.raises(WorkspaceError) as caught:
        Harness(journeys={"j": EMAIL_JOURNEY},
                templates={"t.email.html": email("Hi", '{% extends "layouts/nope.email.html" %}')})
    assert "templates/t.email.html:4:1: template 'layouts/nope.email.html' does not exist" in str(caught.value)


def test_a_send_naming_a_template_that_does_not_exist_is_a_validation_error() -> None:
    with pytest.raises(WorkspaceError) as caught:
        Harness(journeys={"j": EMAIL_JOURNEY}, templates={"other.email.html": email("Hi")})
    assert "journeys/j.yaml:" in str(caught.value) and "'t'" in str(caught.value)
