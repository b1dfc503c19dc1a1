"""SPEC §9: names read by journeys and templates are checked against `data:`, or the sample profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testing import email, write_workspace
from rules.problems import Severity, WorkspaceError
from rules.workspace import load_workspace

DATA = """\
data:
  traits:
    first_name: string
    plan: {enum: [free, pro]}
    lifetime_value: {type: number, required: true}
  events:
    order_completed:
      properties: {order_id: string, total: number}
      revenue: "event.properties.total"
    cart_updated:
      properties: {cart_id: string, cart_total: number}
    cart_viewed:
      properties: {cart_id: string}
"""
CART = """\
id: cart
trigger: {event: cart_updated, where: "event.properties.cart_total > 0"}
exit_on: [{event: order_completed}]
steps:
  - wait_for:
      event: cart_viewed
      where: "event.properties.cart_id == trigger_event.properties.cart_id"
      timeout: 1d
    then:
      - send: email
        template: back
    else:
      - send: email
        template: remind
"""
TEMPLATES = {
    "back.email.html": email("Welcome back", "<p>{{ event.properties.cart_id }}</p>"),
    "remind.email.html": email("Your cart", "<p>{{ trigger_event.properties.cart_total }}</p>"),
}


POSTAL = 'sender: {postal_address: "1 Main St, Springfield"}'


def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.errors]


def test_a_workspace_whose_names_are_all_declared_loads(tmp_path: Path) -> None:
    write_workspace(tmp_path, settings=POSTAL, journeys={"cart": CART}, templates=TEMPLATES, extra=DATA)
    loaded = load_workspace(tmp_path)
    assert loaded.warnings == []
    assert loaded.workspace.data is not None and loaded.workspace.data.events["order_completed"].revenue


def test_an_exit_on_an_undeclared_event_type_suggests_the_declared_one(tmp_path: Path) -> None:
    journey = CART.replace("{event: order_completed}", "{event: order_complete}")
    write_workspace(tmp_path, journeys={"cart": journey}, templates=TEMPLATES, extra=DATA)
    assert problems(tmp_path) == [
        "journeys/cart.yaml:3:19: event type 'order_complete' is not declared in data.events "
        "(did you mean 'order_completed'?)"]


def test_a_trigger_and_a_wait_for_on_undeclared_types_are_errors(tmp_path: Path) -> None:
    journey = CART.replace("event: cart_viewed", "event: cart_view").replace("{event: cart_updated,", "{event: cart_update,")
    write_workspace(tmp_path, journeys={"cart": journey}, templates=TEMPLATES, extra=DATA)
    found = problems(tmp_path)
    assert found[0] == ("journeys/cart.yaml:2:18: event type 'cart_update' is not declared in data.events "
                        "(did you mean 'cart_updated'?)")
    assert found[1].startswith("journeys/cart.yaml:6:14: event type 'cart_view' is not declared")


def test_a_misspelled_trait_in_a_template_is_an_error_at_its_place(tmp_path: Path) -> None:
    templates = {**TEMPLATES, "back.email.html": email("Still thinking it over, {{ profile.frist_name }}?")}
    write_workspace(tmp_path, journeys={"cart": CART}, templates=templates, extra=DATA)
    assert problems(tmp_path) == [
        "templates/back.email.html:2:38: profile.frist_name is not a declared trait (did you mean 'first_name'?); "
        "declare it under data.traits"]


def test_a_property_is_checked_against_the_event_that_reaches_the_step(tmp_path: Path) -> None:
    # in `then:` the event is the cart_viewed that ended the wait, which has no cart_total
    templates = {**TEMPLATES, "back.email.html": email("Hi", "<p>{{ event.properties.cart_total }}</p>")}
    write_workspace(tmp_path, journeys={"cart": CART}, templates=templates, extra=DATA)
    assert problems(tmp_path) == [
        "templates/back.email.html:4:7: event.properties.cart_total is not declared for cart_viewed"]


def test_a_property_in_an_expression_is_checked_against_the_trigger(tmp_path: Path) -> None:
    journey = CART.replace("event.properties.cart_total > 0", "event.properties.total > 0")
    write_workspace(tmp_path, journeys={"cart": journey}, templates=TEMPLATES, extra=DATA)
    assert problems(tmp_path) == [
        "journeys/cart.yaml:2:39: event.properties.total is not declared for cart_updated "
        "(did you mean 'cart_total'?)"]


def test_an_update_of_an_undeclared_trait_is_an_error(tmp_path: Path) -> None:
    journey = CART + "  - update: {set: {lifetime_valeu: \"1\"}}\n"
    write_workspace(tmp_path, journeys={"cart": journey}, templates=TEMPLATES, extra=DATA)
    [problem] = problems(tmp_path)
    assert "profile.lifetime_valeu is not a declared trait (did you mean 'lifetime_value'?)" in problem


@pytest.mark.parametrize(("variable", "hint"), [
    ("customer_name", "unknown variable 'customer_name'"),
    ("profil.first_name", "unknown variable 'profil' (did you mean 'profile'?)"),
])
def test_an_unknown_variable_is_an_error_even_without_data(tmp_path: Path, variable: str, hint: str) -> None:
    templates = {**TEMPLATES, "back.email.html": email("Hi", "<p>Hi {{ " + variable + " }}</p>")}
    write_workspace(tmp_path, journeys={"cart": CART}, templates=templates)
    [problem] = problems(tmp_path)
    assert problem.startswith(f"templates/back.email.html:4:10: {hint}; templates see profile, ")


SAMPLES = ('{"customer_id": "a", "traits": {"first_name": "Ann", "plan": "pro"}}\n'
           '{"customer_id": "b", "traits": {"plan": "free"}}\n'
           '{"customer_id": "c", "traits": {"plan": "free"}}\n'
           '{"customer_id": "d", "traits": {}}\n')


def with_samples(root: Path, subject: str) -> Path:
    templates = {**TEMPLATES, "back.email.html": email(subject)}
    write_workspace(root, settings=POSTAL, journeys={"cart": CART}, templates=templates)
    (root / "samples").mkdir()
    (root / "samples" / "profiles.jsonl").write_text(SAMPLES)
    return root


def test_without_data_a_trait_no_sample_profile_has_is_an_error(tmp_path: Path) -> None:
    with_samples(tmp_path, "Still thinking it over, {{ profile.frist_name | default('friend') }}?")
    assert problems(tmp_path) == [
        "templates/back.email.html:2:38: profile.frist_name is undefined for every profile of "
        "samples/profiles.jsonl (did you mean 'first_name'?); a send using it would fail"]


def test_a_trait_without_a_default_is_a_warning_naming_the_share_lacking_it(tmp_path: Path) -> None:
    loaded = load_workspace(with_samples(tmp_path, "Hi {{ profile.first_name }}, your {{ profile.plan }} plan"))
    assert [str(w) for w in loaded.warnings] == [
        "templates/back.email.html:2:17: warning: profile.first_name has no default: 3 of 4 profiles of "
        "samples/profiles.jsonl (75%) lack it, and a send to them fails; write {{ profile.first_name | default('...') }}",
        "templates/back.email.html:2:48: warning: profile.plan has no default: 1 of 4 profiles of "
        "samples/profiles.jsonl (25%) lack it, and a send to them fails; write {{ profile.plan | default('...') }}",
    ]
    assert all(w.severity is Severity.WARNING for w in loaded.warnings)


@pytest.mark.parametrize("subject", [
    "Hi {{ profile.first_name | default('friend') }}",
    "Hi{% if profile.first_name %} {{ profile.first_name }}{% endif %}",
    "Hi {{ profile.first_name if profile.first_name is defined else 'you' }}",
])
def test_a_guarded_trait_is_not_a_warning(tmp_path: Path, subject: str) -> None:
    assert load_workspace(with_samples(tmp_path, subject)).warnings == []


def test_a_trait_a_journey_sets_is_not_undefined_for_every_profile(tmp_path: Path) -> None:
    with_samples(tmp_path, "{{ profile.visits | default(0) }} visits")
    journey = CART + "  - update: {increment: {visits: \"1\"}}\n"
    (tmp_path / "journeys" / "cart.yaml").write_text(journey)
    assert load_workspace(tmp_path).warnings == []


def test_the_editor_schema_completes_declared_traits_and_event_types(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from engine.cli import app

    write_workspace(tmp_path, settings=POSTAL, journeys={"cart": CART}, templates=TEMPLATES, extra=DATA)
    result = CliRunner().invoke(app, ["schema", "--workspace", str(tmp_path)])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    trigger = schema["$defs"]["EventTriggerModel"]["properties"]
    assert "order_completed" in trigger["event"]["examples"]
    assert "profile.lifetime_value" in trigger["where"]["anyOf"][0]["examples"]
    assert "event.properties.cart_total" in trigger["where"]["anyOf"][0]["examples"]
    assert "plan" in schema["x-nudge-traits"]


def test_the_demo_declares_its_data_and_validates_clean() -> None:
    loaded = load_workspace(Path(__file__).resolve().parents[2])
    assert loaded.workspace.data is not None and "purchase" in loaded.workspace.data.events
    assert loaded.warnings == []


def test_a_template_no_journey_sends_yet_is_checked_too(tmp_path: Path) -> None:
    templates = {**TEMPLATES, "spare.sms.txt": "Hi {{ customer_name }}"}
    write_workspace(tmp_path, journeys={"cart": CART}, templates=templates)
    [problem] = problems(tmp_path)
    assert problem.startswith("templates/spare.sms.txt:1:7: unknown variable 'customer_name'")


def test_with_data_the_orders_reports_count_are_the_types_that_declare_revenue(tmp_path: Path) -> None:
    write_workspace(tmp_path, settings=POSTAL, journeys={"cart": CART}, templates=TEMPLATES, extra=DATA)
    assert load_workspace(tmp_path).workspace.settings.purchase_events == ("order_completed",)


def test_a_misspelled_type_in_data_gets_one_message_with_a_did_you_mean(tmp_path: Path) -> None:
    extra = DATA.replace("    first_name: string\n", "    first_name: strng\n    tier: {enum: [a, b], requird: true}\n")
    write_workspace(tmp_path, settings=POSTAL, journeys={"cart": CART}, templates=TEMPLATES, extra=extra)
    assert problems(tmp_path) == [
        "journeys.yaml:6:17: got 'strng' (did you mean 'string'?); expected 'string', 'number', 'integer', "
        "'boolean', 'date', 'datetime', 'list' or 'object'",
        "journeys.yaml:7:26: unknown key 'requird' (did you mean 'required'?)",
    ]


def test_an_enum_may_be_required_as_it_is_written() -> None:
    from rules import schema
    from rules.data import declared

    model = schema.DataModel.model_validate({"traits": {"plan": {"enum": ["free", "pro"], "required": True}}})
    assert declared(model).traits["plan"].required


def test_an_event_field_that_never_exists_is_an_error_even_without_data(tmp_path: Path) -> None:
    journey = CART.replace("event.properties.cart_total > 0", "event.propeties.cart_total > 0")
    templates = {**TEMPLATES, "remind.email.html": email("{{ activity.cart_updated.cont | default(0) }} carts")}
    write_workspace(tmp_path, journeys={"cart": journey}, templates=templates)
    assert problems(tmp_path) == [
        "journeys/cart.yaml:2:39: event.propeties does not exist (did you mean 'properties'?); an event has type, "
        "properties, traits, timestamp, received_at, id, customer_id, anonymous_id",
        "templates/remind.email.html:2:14: activity.cart_updated.cont does not exist (did you mean 'count'?); "
        "activity of an event type has count, first_at, last_at",
    ]
