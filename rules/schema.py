"""Pydantic models of the workspace files (SPEC §1 and §4): the shape, checked at the edge.

Unknown keys are errors (`extra="forbid"`); meaning (expressions, templates, durations)
is checked afterwards by `rules.compile`, which knows the positions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from rules.durations import parse_duration

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_HHMM_OR_EXPRESSION = r"^(([01]\d|2[0-3]):[0-5]\d|\s*[^\s\d][\s\S]*)$"  # a time starts with a digit, an expression never


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Duration = Annotated[str, Field(description="digits and units s m h d w, e.g. 30m, 1d12h", examples=["1h", "2d", "1d12h"])]
Expression = Annotated[str, Field(description="a Jinja2 expression (SPEC §3), without {{ }}")]
ClockTime = Annotated[str, Field(pattern=_HHMM, description="local wall-clock time HH:MM")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _duration(value: str) -> str:
    parse_duration(value)
    return value


# ---- journeys.yaml ----------------------------------------------------------

class QuietHoursModel(Strict):
    start: ClockTime
    end: ClockTime


class CapModel(Strict):
    max: int = Field(ge=0)
    per: Duration

    _check_per = field_validator("per")(_duration)


class SenderModel(Strict):
    email: str | None = Field(None, description='"Name <address>" of marketing and transactional email')
    reply_to: str | None = None
    sms: str | None = Field(None, description="E.164 number or Twilio messaging service SID (MG...)")
    postal_address: str | None = Field(None, description="shown in every marketing email (CAN-SPAM)")


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}' (use an IANA name such as Europe/Paris)") from None
    return value


class EmailChannelModel(Strict):
    provider: Literal["file", "sendgrid", "smtp"] = Field("file", description="where email goes; secrets come from the environment")
    rate_per_second: float | None = Field(None, gt=0, description="at most this many sends a second")


class SmsChannelModel(Strict):
    provider: Literal["file", "twilio"] = Field("file", description="where texts go; secrets come from the environment")
    rate_per_second: float | None = Field(None, gt=0, description="at most this many sends a second")


class WebhookChannelModel(Strict):
    provider: Literal["file", "http"] = Field("file", description="where webhook sends go: the outbox file, or "
                                                                  "signed HTTP posts to each step's url")
    rate_per_second: float | None = Field(None, gt=0, description="at most this many sends a second")


class ChannelsModel(Strict):
    email: EmailChannelModel = EmailChannelModel()
    sms: SmsChannelModel = SmsChannelModel()
    webhook: WebhookChannelModel = WebhookChannelModel()
    file_path: str = Field("outbox/messages.jsonl", description="the file connector's output, relative to the workspace")


class TrackingModel(Strict):
    links: bool = Field(False, description="rewrite links to signed redirects that record email_clicked / sms_clicked")
    utm: bool = Field(True, description="add utm_source/medium/campaign/content to tracked links")


class DoubleOptInModel(Strict):
    email: bool = Field(False, description="new email subscribers confirm by a signed link (template confirm_subscription)")
    sms: bool = Field(False, description="new SMS subscribers confirm by a signed link (template confirm_subscription)")


class AttributionModel(Strict):
    after_click: dict[Literal["email", "sms"], Duration] = Field(
        {"email": "5d", "sms": "1d"}, description="an order this long after a click of a message is credited to it")
    after_send: dict[Literal["email", "sms"], Duration] = Field(
        {"email": "1d", "sms": "1d"}, description="an order this long after a message sent (not clicked) is credited to it")

    @field_validator("after_click", "after_send")
    @classmethod
    def _check_windows(cls, value: dict[str, str]) -> dict[str, str]:
        for duration in value.values():
            parse_duration(duration)
        return value


class SettingsModel(Strict):
    timezone: str = "UTC"
    quiet_hours: QuietHoursModel | None = None
    frequency_caps: dict[Literal["email", "sms"], CapModel] = {}
    consent: dict[Literal["email", "sms"], Literal["opt_in", "opt_out"]] = {}
    sender: SenderModel = SenderModel()
    late_events: Duration = "72h"
    future_skew: Duration = Field("5m", description="how far after its receipt an event may be dated; later ones are refused")
    currency: str = Field("USD", description="ISO 4217 code used in reports")
    topics: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        [], description="subscription topics a customer can leave one by one (e.g. newsletter, promotions)")
    channels: ChannelsModel = ChannelsModel()
    tracking: TrackingModel = TrackingModel()
    double_opt_in: DoubleOptInModel = DoubleOptInModel()
    purchase_events: list[str] = Field(["purchase", "order_completed"],
                                       description="event types that are orders, valued by properties.total (reports)")
    attribution: AttributionModel = AttributionModel()
    event_names: dict[str, Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        {}, description="Segment event names mapped to Nudge event types, over the default rule "
                        "('Order Completed' -> order_completed)")

    _check_late = field_validator("late_events", "future_skew")(_duration)
    _check_zone = field_validator("timezone")(_zone)


# ---- journeys ---------------------------------------------------------------

class EventTriggerModel(Strict):
    event: str
    where: Expression | None = None


class DateTriggerModel(Strict):
    date: str = Field(description="the trait holding a date (YYYY-MM-DD or RFC 3339)")
    offset: Duration | Annotated[str, Field(pattern=r"^-(\d+[smhdw])+$")] = "0d"
    at: ClockTime = "09:00"
    repeat: Literal["yearly", "never"] = "never"


class InactivityTriggerModel(Strict):
    inactivity: str = Field(description="the event type whose absence triggers")
    for_: Duration = Field(alias="for")

    _check_for = field_validator("for_")(_duration)


def _trigger_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for kind in ("event", "date", "inactivity"):
            if kind in value:
                return kind
    return None


TriggerModel = Annotated[
    Union[
        Annotated[EventTriggerModel, Tag("event")],
        Annotated[DateTriggerModel, Tag("date")],
        Annotated[InactivityTriggerModel, Tag("inactivity")],
    ],
    Discriminator(_trigger_kind, custom_error_type="trigger", custom_error_message="a trigger needs one of 'event', 'date' or 'inactivity'"),
]


class EventMatchModel(Strict):
    event: str
    where: Expression | None = None


class GoalModel(Strict):
    event: str
    where: Expression | None = None
    within: Duration
    value: Expression | None = None
    exit: bool = True

    _check_within = field_validator("within")(_duration)


class CooldownModel(Strict):
    cooldown: Duration

    _check = field_validator("cooldown")(_duration)


StepId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$")]


class StepBase(Strict):
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]+$", description="stable name in reports")
    was: StepId | list[StepId] | None = Field(
        None, description="the id(s) this step had before an edit: customers waiting there move here (SPEC §10)")


class WinnerModel(Strict):
    """SPEC §11: when and by what a content test or split picks its winner."""

    metric: Literal["opened", "clicked", "converted", "revenue"] = Field(
        description="the rate compared: opens, clicks or goal conversions per recipient, or goal value per recipient")
    after: Duration = Field(description="first decision this long after the first send; then daily, for 30 days")
    min_per_variant: int = Field(100, ge=1, description="recipients every variant needs before a winner is called")
    confidence: float = Field(0.95, gt=0, lt=1, description="1 - the two-sided test's significance level")

    _check_after = field_validator("after")(_duration)


class ContentVariantModel(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    weight: int = Field(gt=0, description="relative share of the sends")
    template: str | None = Field(None, description="this variant's template (default: the step's)")
    subject: str | None = Field(None, description="overrides only the email subject (a template itself)")


class SendStepModel(StepBase):
    send: Literal["email", "sms", "webhook"]
    template: str | None = None
    topic: str | None = Field(None, description="subscription topic of this message (default: the journey's)")
    when: Expression | None = None
    transactional: bool = False
    url: str | None = None
    method: Literal["POST", "PUT", "PATCH", "GET", "DELETE"] = "POST"
    body: dict[str, Any] | None = None
    variants: list[ContentVariantModel] = Field([], description="a content test: each send takes one variant")
    winner: WinnerModel | None = None


class WaitStepModel(StepBase):
    wait: Duration

    _check = field_validator("wait")(_duration)


class WaitUntilDefault(Strict):
    time: ClockTime | None = Field(None, description="used when the time expression gives no HH:MM")
    days: list[Weekday] | None = Field(None, description="used when the days expression gives no weekdays")


class WaitUntilSpec(Strict):
    time: str | None = Field(None, pattern=_HHMM_OR_EXPRESSION, examples=["10:00", "profile.reminder_time"],
                             description='local wall-clock time "HH:MM", or an expression giving one (SPEC §15)')
    days: list[Weekday] | Expression | None = Field(None, description="weekdays, or an expression giving a list of them")
    default: WaitUntilDefault | None = Field(None, description="required when time or days is an expression")
    best_time: Duration | None = Field(None, description="until the customer's most engaged hour within this window")

    _check_best = field_validator("best_time")(_duration)

    @model_validator(mode="after")
    def _one(self) -> WaitUntilSpec:
        if (self.time is None) == (self.best_time is None) or (
                self.best_time is not None and (self.days is not None or self.default is not None)):
            raise ValueError("wait_until takes 'time' (and optional 'days', 'default'), or 'best_time' alone")
        return self


class RepeatSpec(Strict):
    times: int | None = Field(None, ge=1, le=1000, description="the number of passes")
    until: Expression | None = Field(None, description="checked before each pass: stop once it holds")
    max: int | None = Field(None, ge=1, le=1000, description="the most passes, required with until")

    @model_validator(mode="after")
    def _bounded(self) -> RepeatSpec:
        if self.times is not None and (self.until is not None or self.max is not None):
            raise ValueError("a repeat takes either 'times' or 'until' (with 'max'), not both")
        if self.until is not None and self.max is None:
            raise ValueError("a repeat with 'until' needs 'max' (at most 1000 passes)")
        if self.times is None and self.until is None:
            raise ValueError("a repeat takes either 'times' or 'until' (with 'max')")
        return self


class WaitUntilStepModel(StepBase):
    wait_until: WaitUntilSpec


class WaitForSpec(Strict):
    event: str
    where: Expression | None = None
    timeout: Duration

    _check = field_validator("timeout")(_duration)


class WaitForStepModel(StepBase):
    wait_for: WaitForSpec
    then: list["StepModel"] = []
    else_: list["StepModel"] = Field([], alias="else")


class IfStepModel(StepBase):
    if_: Expression = Field(alias="if")
    then: list["StepModel"]
    else_: list["StepModel"] = Field([], alias="else")


class RepeatStepModel(StepBase):
    repeat: RepeatSpec
    steps: list["StepModel"] = Field(min_length=1)


class VariantModel(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    weight: int = Field(ge=0)
    steps: list["StepModel"] = []


class SplitSpec(Strict):
    name: str
    variants: list[VariantModel] = Field(min_length=1)
    winner: WinnerModel | None = None


class SplitStepModel(StepBase):
    split: SplitSpec


class UpdateSpec(Strict):
    set: dict[str, Expression] = {}
    increment: dict[str, Expression] = {}
    unset: list[str] = []


class UpdateStepModel(StepBase):
    update: UpdateSpec


def _exit_schema(schema: dict[str, Any]) -> None:
    """Editors should accept the usual `- exit` as well as the mapping form."""
    mapping = {**schema, "required": ["exit"]}
    schema.clear()
    schema["anyOf"] = [{"const": "exit"}, mapping]


class ExitStepModel(StepBase):
    model_config = ConfigDict(json_schema_extra=_exit_schema)

    exit: Literal[True, None] = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`- exit` is the usual way to write this step."""
        return {"exit": None} if value == "exit" else value


STEP_KINDS = ("send", "wait", "wait_until", "wait_for", "if", "split", "repeat", "update", "exit")


def _step_kind(value: Any) -> str | None:
    if value == "exit":
        return "exit"
    if isinstance(value, dict):
        for kind in STEP_KINDS:
            if kind in value:
                return kind
    return None


StepModel = Annotated[
    Union[
        Annotated[SendStepModel, Tag("send")],
        Annotated[WaitStepModel, Tag("wait")],
        Annotated[WaitUntilStepModel, Tag("wait_until")],
        Annotated[WaitForStepModel, Tag("wait_for")],
        Annotated[IfStepModel, Tag("if")],
        Annotated[SplitStepModel, Tag("split")],
        Annotated[RepeatStepModel, Tag("repeat")],
        Annotated[UpdateStepModel, Tag("update")],
        Annotated[ExitStepModel, Tag("exit")],
    ],
    Discriminator(
        _step_kind,
        custom_error_type="step",
        custom_error_message="a step needs one of: " + ", ".join(STEP_KINDS),
    ),
]


class JourneyModel(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str | None = None
    enabled: bool = True
    trigger: TriggerModel
    audience: Expression | None = None
    filter: Expression | None = None
    reentry: Literal["never", "after_exit", "restart"] | CooldownModel = "never"
    exit_on: list[EventMatchModel] = []
    goal: GoalModel | None = None
    topic: str | None = Field(None, description="subscription topic of this journey's marketing messages")
    steps: list[StepModel] = Field(min_length=1)


# ---- data: (SPEC §9) ---------------------------------------------------------

TypeName = Literal["string", "number", "integer", "boolean", "date", "datetime", "list", "object"]


class EnumTypeModel(Strict):
    enum: list[str | int | float | bool] = Field(min_length=1, description="the allowed values")
    required: bool = Field(False, description="every profile / event has it")


class FieldSpecModel(Strict):
    type: TypeName | EnumTypeModel
    required: bool = Field(False, description="every profile / event has it")


_FIELD_TYPES = ("string, number, integer, boolean, date, datetime, list, object, {enum: [...]} "
                "or {type: T, required: true}")


def _field_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "name"
    if isinstance(value, dict):
        return "enum" if "enum" in value else "spec" if "type" in value else None
    return None


FieldTypeModel = Annotated[
    Union[
        Annotated[TypeName, Tag("name")],
        Annotated[EnumTypeModel, Tag("enum")],
        Annotated[FieldSpecModel, Tag("spec")],
    ],
    Discriminator(_field_kind, custom_error_type="data_type", custom_error_message="a type is " + _FIELD_TYPES),
    Field(description=_FIELD_TYPES),
]


class EventDataModel(Strict):
    properties: dict[str, FieldTypeModel] = {}
    revenue: Expression | None = Field(None, description="this event is a purchase worth this much (reports)")


class DataModel(Strict):
    strict: bool = Field(False, description="refuse events of undeclared types or with nonconforming properties")
    traits: dict[str, FieldTypeModel] = {}
    events: dict[str, EventDataModel | None] = {}


class WorkspaceModel(Strict):
    version: Literal[1]
    settings: SettingsModel = SettingsModel()
    data: DataModel | None = None
    segments: dict[str, Expression] = {}
    include: list[str] = ["journeys/*.yaml"]
    journeys: list[JourneyModel] = []


for _model in (WaitForStepModel, IfStepModel, VariantModel, RepeatStepModel):
    _model.model_rebuild()


def journey_file_schema() -> dict[str, Any]:
    """JSON Schema of one journey file, for editors with the YAML language server."""
    return JourneyModel.model_json_schema(by_alias=True)


def workspace_file_schema() -> dict[str, Any]:
    """JSON Schema of journeys.yaml."""
    return WorkspaceModel.model_json_schema(by_alias=True)
