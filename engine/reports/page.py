"""The HTML report: one self-contained file (inline CSS and SVG), readable tables, numbers for people."""

from __future__ import annotations

from html import escape
from typing import Any, Mapping, Sequence

from engine.reports import charts
from engine.reports.formatting import count, money, percent, points
from engine.reports.journey_map import Drawing

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;margin:0;background:#f6f7f9}
main{max-width:1400px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:21px;margin:36px 0 8px;border-bottom:2px solid #dde2ea;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 6px}.meta{color:#5b6576;margin:0 0 18px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:10px 16px;min-width:130px;max-width:420px}
.card b{display:block;font-size:22px}.card.primary{border-color:#2f6fdb;box-shadow:inset 4px 0 #2f6fdb}
.card span{color:#5b6576;font-size:13px}
table{border-collapse:collapse;background:#fff;margin:8px 0 16px;font-variant-numeric:tabular-nums;font-size:13.5px}
th,td{border:1px solid #dde2ea;padding:4px 6px;text-align:right;white-space:nowrap}
th{background:#eef1f6;font-weight:600;white-space:normal;vertical-align:bottom}th[title]{cursor:help}
.wide{max-width:100%;overflow-x:auto}.experiment td:nth-last-child(-n+2){white-space:normal;min-width:14em}td:first-child,th:first-child{text-align:left}
.note{background:#fff8e6;border:1px solid #f0d58c;border-radius:6px;padding:8px 12px;max-width:900px}
.verdict{font-weight:600}.charts{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.chart{background:#fff;border:1px solid #dde2ea;border-radius:6px}
.chart .axis{font-size:12px;fill:#5b6576}.chart .value{font-size:12px;fill:#1d2430}
.chart .grid{stroke:#dde2ea}.chart .whisker{stroke:#1d2430;stroke-width:2}
.map{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:8px;max-width:100%;overflow-x:auto;
box-sizing:border-box;display:inline-block}.map svg{max-width:100%;height:auto;display:block}
#comparison td:last-child{text-align:left;white-space:normal;color:#5b6576}
"""

MACHINE_OPENS = (
    "Opens are shown but are not a primary signal: Apple Mail Privacy Protection and similar "
    "prefetching load every image of a message, so a machine can 'open' mail nobody read. "
    "Clicks and conversions are the signals to judge a journey by. An open or click without a "
    "delivery event counts the message as delivered; every count is unique per message.")


def _table(headers: Sequence[str | tuple[str, str]], rows: Sequence[Sequence[str]], id: str = "") -> str:
    """A header may be (text, tooltip): the tooltip states the percentage's base."""
    head = "".join(f'<th title="{escape(h[1])}">{escape(h[0])}</th>' if isinstance(h, tuple) else f"<th>{escape(h)}</th>"
                   for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' id="{escape(id)}"' if id else ""
    return f'<div class="wide"><table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


NOT_REPORTED = "not reported"
FUNNEL_HEADERS: tuple[str | tuple[str, str], ...] = (
    "", ("entered", "journey entries"), ("sent", "messages sent"),
    ("recipients", "customers sent at least one message"),
    ("delivered", "messages the connector reported delivered ('not reported' when it reports no deliveries)"),
    ("clicked", "messages clicked"),
    ("click rate", "clicked / delivered, or / sent when delivery is not reported"),
    ("goal conv.", "the journey's goal reached (SPEC §4): per journey, so one order can complete several journeys' goals"),
    ("goal conv. rate", "goal conversions / entered (journeys, variants) or / recipients (steps, channels)"),
    ("goal value", "the goal's value: not revenue, an order can be the goal of several journeys"),
    ("attrib. orders", "orders credited to this row's messages by the attribution windows; each order at most once"),
    ("attrib. revenue", "value of the orders credited to this row's messages"),
    ("attrib. rev./recipient", "attributed revenue / recipients"),
    ("unsub.", "unsubscribes"), ("bounced", "bounced messages"))


def _delivered(f: Mapping[str, Any]) -> str:
    """Opens and clicks imply a delivery; with neither nor any report, 0 would be a guess."""
    return count(f["delivered"]) if f["delivery_reported"] or f["delivered"] or not f["sent"] else NOT_REPORTED


def _funnel_row(label: str, f: Mapping[str, Any], currency: str) -> list[str]:
    r = f["rates"]
    return [label, count(f["entered"]) if f["rate_bases"]["conversion_rate"] == "entered" else "–",
            count(f["sent"]), count(f["recipients"]), _delivered(f), count(f["clicked"]), percent(r["click_rate"]),
            count(f["conversions"]), percent(r["conversion_rate"]), money(f["goal_value"], currency),
            count(f["orders"]), money(f["attributed_revenue"], currency),
            money(r["attributed_revenue_per_recipient"], currency), count(f["unsubscribed"]), count(f["bounced"])]


def _card(name: str, value: str, sub: str, primary: bool = False, id: str = "") -> str:
    attr = f' id="{escape(id)}"' if id else ""
    return (f'<div class="card{" primary" if primary else ""}"{attr}><span>{escape(name)}</span><b>{escape(value)}</b>'
            f'<span>{escape(sub)}</span></div>')


def _incremental_cards(experiments: Sequence[Mapping[str, Any]], currency: str) -> list[str]:
    cards = []
    for e in experiments:
        for c in e["comparisons"]:
            if (u := c.get("uplift")) is None:  # content tests have none: they have no holdout
                continue
            low, high = u["incremental_revenue_ci95"]
            cards.append(_card(f"Incremental revenue · {_title(e)}: {c['variant']} vs {c['baseline']}",
                               money(u["incremental_revenue"], currency),
                               f"95% interval {money(low, currency)} to {money(high, currency)} "
                               f"(treated minus holdout per customer, × {c['variant']}'s customers)",
                               True, id=f"incremental-{e['key']}-{c['variant']}"))
    return cards


def _cards(report: Mapping[str, Any], currency: str) -> str:
    revenue, totals = report["revenue"], report["totals"]
    r = totals["rates"]
    share = revenue["attributed_revenue"] / revenue["order_total"] if revenue["order_total"] else None
    sent_sub = f"{percent(r['delivery_rate'])} delivered" if totals["delivery_reported"] else "delivery not reported"
    cards = [_card("Orders", money(revenue["order_total"], currency), f"{count(revenue['orders'])} orders, each counted once",
                   True, id="order-total"),
             _card("Attributed to messages", money(revenue["attributed_revenue"], currency),
                   f"{percent(share)} of order revenue, {count(revenue['attributed_orders'])} orders", True,
                   id="attributed-revenue"),
             *_incremental_cards(report["experiments"], currency),
             _card("Goal conversions", count(totals["conversions"]),
                   "journeys' own goals; one order may count in several", id="goal-conversions"),
             _card("Clicks", count(totals["clicked"]),
                   f"{percent(r['click_rate'])} of {totals['rate_bases']['engagement']}"),
             _card("Entered", count(totals["entered"]), "journey entries"),
             _card("Sent", count(totals["sent"]), sent_sub, id="sent"),
             _card("Unsubscribed", count(totals["unsubscribed"]),
                   f"{percent(r['unsubscribe_rate'])} of {totals['rate_bases']['engagement']}")]
    return '<div class="cards">' + "".join(cards) + "</div>"


def _revenue(report: Mapping[str, Any], currency: str) -> str:
    revenue = report["revenue"]
    windows = revenue["windows"]
    rows = [[channel, count(v["orders"]), money(v["revenue"], currency)] for channel, v in revenue["by_channel"].items()]
    rows.append(["not attributed", count(revenue["unattributed_orders"]), money(revenue["unattributed_revenue"], currency)])
    if revenue["attributed_to_other_journeys"]:
        rows.append(["other journeys (filtered out)", count(revenue["attributed_to_other_journeys"]), ""])
    rows.append(["all orders", count(revenue["orders"]), money(revenue["order_total"], currency)])
    rule = ("An order is an event of type " + ", ".join(revenue["order_events"]) + " valued by properties.total, "
            "counted once by its id. It is credited to the latest message sent to the customer before it if the "
            "order came within " + ", ".join(f"{c} {w}" for c, w in windows["after_click"].items()) +
            " of a click of that message, else within " + ", ".join(f"{c} {w}" for c, w in windows["after_send"].items())
            + " of its send; a clicked message wins over a later one not clicked. Each order is credited at most once.")
    skipped = (f" {count(revenue['order_events_without_total'])} order events had no numeric total and are not counted."
               if revenue["order_events_without_total"] else "")
    return (f'<h2>Revenue</h2><p class="note">{escape(rule + skipped)}</p>'
            + _table(("credited to", "orders", "revenue"), rows, id="revenue"))


def _map(j: Mapping[str, Any], drawing: Drawing | None) -> str:
    """The journey drawn from its YAML with this report's counts on each node (engine.reports.journey_map)."""
    if j.get("map") is None:
        return ""
    waiting = ("'waiting now' counts the customers at each step at this moment. " if j.get("waiting_now") is not None
               else "Customers waiting at each step are shown for a live store (--db or /reports). ")
    note = (f'<p class="note">{escape(waiting)}Click rates are of the base named on each node; goal conversions on '
            f"a message are last touch; 'left here' counts instances that exited while at that step, by reason.</p>")
    if drawing is None:
        body = '<p class="note">The map is not drawn in this output.</p>'
    elif drawing.problem:
        body = f'<p class="note">Journey map not drawn: {escape(drawing.problem)}</p>'
    else:
        body = f'<div class="map" id="map-{escape(j["id"])}">{drawing.svg}</div>'
    return f"<h3>Journey map</h3>{note}{body}"


def _journey(j: Mapping[str, Any], currency: str, drawing: Drawing | None = None) -> str:
    sent = j["sent"]
    reported = j["delivery_reported"]
    engaged_base = ("delivered", j["delivered"]) if reported else ("sent", sent)
    stages = [charts.Stage("entered", j["entered"]),
              charts.Stage("goal reached", j["conversions"], "entered", j["entered"]),
              charts.Stage("sent", sent),
              charts.Stage("delivered", j["delivered"], "sent", sent, "" if reported or not sent else NOT_REPORTED),
              charts.Stage("opened", j["opened"], *engaged_base),
              charts.Stage("clicked", j["clicked"], *engaged_base)]
    daily = j["daily"]
    days = [d["date"] for d in daily]
    series = [(label, [float(d[name]) for d in daily]) for label, name in
              (("entered", "entered"), ("sent", "sent"), ("clicked", "clicked"), ("goal conversions", "conversions"),
               ("attributed orders", "orders"))]
    parts = [f'<section class="journey" id="journey-{escape(j["id"])}"><h2>{escape(j["name"])} '
             f'<small>({escape(j["id"])})</small></h2>', _map(j, drawing), '<div class="charts">',
             charts.funnel(stages, f"Funnel of {j['id']}")]
    if days:
        parts.append(charts.small_multiples(days, series, f"Daily activity of {j['id']}"))
    parts.append("</div>")
    if j["steps"]:
        parts.append("<h3>Messages (steps)</h3>" + _table(
            ("step", "channel", "template", *FUNNEL_HEADERS[2:]),
            [[s["id"], s.get("channel") or "", ", ".join(s.get("templates") or ()), *_funnel_row("", s, currency)[2:]]
             for s in j["steps"]], id=f"steps-{j['id']}"))
    for s in j["steps"]:
        if s.get("iterations"):
            parts.append(_passes(j["id"], s))
    if j["variants"]:
        parts.append("<h3>Variants</h3>" + _table(("split", "variant", *FUNNEL_HEADERS[1:]),
                                                   [[v.get("split") or "", *_funnel_row(v["id"], v, currency)]
                                                    for v in j["variants"]]))
    reasons = _reasons(j)
    if reasons:
        parts.append("<h3>Not sent, by reason</h3>" + reasons)
    return "".join(parts) + "</section>"


PASS_HEADERS: tuple[str | tuple[str, str], ...] = (
    ("pass", "journey.iteration: the pass of the repeat that holds this step"), ("sent", "messages sent"),
    ("recipients", "customers sent this pass's message"), ("opened", "messages opened"),
    ("open rate", "opened / delivered, or / sent when delivery is not reported"),
    ("not sent", "skipped, suppressed or failed"),
    ("goal conv.", "goals reached after this pass's message was the customer's last of the journey"))


def _passes(journey: str, s: Mapping[str, Any]) -> str:
    """A step inside a repeat, pass by pass: where a long programme loses its audience."""
    rows = [[count(i["iteration"]), count(i["sent"]), count(i["recipients"]), count(i["opened"]),
             percent(i["open_rate"]), count(i["not_sent"]), count(i["conversions"])] for i in s["iterations"]]
    return (f"<h3>Step {escape(s['id'])}, pass by pass</h3>"
            + _table(PASS_HEADERS, rows, id=f"iterations-{journey}-{s['id']}"))


def _reasons(f: Mapping[str, Any]) -> str:
    rows = [[status, reason, count(n)] for status in ("suppressed", "skipped", "failed") for reason, n in f[status].items()]
    return _table(("status", "reason", "messages"), rows) if rows else ""


def _arm_name(v: Mapping[str, Any]) -> str:
    name = str(v["variant"])
    return name + (" (holdout)" if v["holdout"] and "holdout" not in name else "")


def _title(e: Mapping[str, Any]) -> str:
    if e.get("kind") == "content":
        return f"{e['journey']} · step {e['step']} (content test)"
    return f"{e['journey']} · split {e['split']}" if e["split"] else f"{e['journey']} · variants from send records"


def _winner(e: Mapping[str, Any]) -> str:
    w = e.get("winner")
    if not w:
        return ""
    when = str(w["at"])[:16].replace("T", " ")
    return (f'<p class="verdict">Winner: {escape(str(w["variant"]))}, chosen {escape(when)} UTC '
            f'({escape(str(w["reason"]))}); {count(e.get("sent_with_winner", 0))} sends used it since</p>')


def _content_test(e: Mapping[str, Any], currency: str) -> str:
    """A content test: messages per variant, each variant's rate on the test's metric and its interval."""
    name = e["metric_name"]
    shown = (lambda x: money(x, currency)) if e["metric"] == "revenue" else percent
    arms = _table(("variant", "recipients", "opened", "clicked", "converted",
                   (name, f"{name} of the messages sent while the test ran"),
                   ("95% interval", "Wilson's interval of the rate; for revenue, mean ± Student's t × standard error"),
                   ("revenue", "goal value of the recipients' conversions"),
                   ("revenue/recipient", "revenue / recipients")),
                  [[v["variant"] + (" (default)" if v["variant"] == e["baseline"] else ""), count(v["recipients"]),
                    count(v["opened"]), count(v["clicked"]), count(v["converted"]), shown(v["rate"]),
                    f"{shown(v['ci95'][0])} – {shown(v['ci95'][1])}", money(v["revenue"], currency),
                    money(v["revenue_per_recipient"], currency)] for v in e["variants"]],
                  id=f"experiment-{e['journey']}-{e['step']}")
    rows = [[f"{c['variant']} vs {c['baseline']}", shown(c["difference"]) if e["metric"] == "revenue" else points(c["difference"]),
             f"{shown(c['ci95'][0])} to {shown(c['ci95'][1])}" if e["metric"] == "revenue"
             else f"{points(c['ci95'][0])} to {points(c['ci95'][1])}", f"{c['p_value']:.3f}"] for c in e["comparisons"]]
    comparisons = _table(("comparison", ("difference", f"the variant's {name} minus the default's"),
                          ("95% interval", "Newcombe's interval; for revenue, Welch's"), "p-value"), rows)
    return (f'<section class="experiment" id="experiment-{escape(e["key"])}"><h3>{escape(_title(e))}: '
            f'default {escape(e["baseline"])}</h3><p class="verdict">{escape(e["verdict"])}</p>{_winner(e)}'
            f"{arms}{comparisons}</section>")


def _experiment(e: Mapping[str, Any], currency: str) -> str:
    if e.get("kind") == "content":
        return _content_test(e, currency)
    title = _title(e)
    bars = [(_arm_name(v), v["conversion_rate"], *v["conversion_ci95"]) for v in e["variants"]]
    variants = _table(("variant", "customers", "converted", ("conversion rate", "goal conversions / customers assigned"),
                       ("95% interval", "Wilson score interval of the conversion rate"),
                       "clicked", ("click rate", "customers who clicked / customers assigned"),
                       ("revenue", "orders of the arm's customers after entering the journey, attributed or not"),
                       ("revenue/customer", "revenue / customers assigned")),
                      [[_arm_name(v), count(v["customers"]), count(v["converted"]),
                        percent(v["conversion_rate"]),
                        f"{percent(v['conversion_ci95'][0])} – {percent(v['conversion_ci95'][1])}",
                        count(v["clicked"]), percent(v["click_rate"]), money(v["revenue"], currency),
                        money(v["revenue_per_customer"], currency)] for v in e["variants"]])
    rows = []
    for c in e["comparisons"]:
        uplift = c.get("uplift")
        lift = ""
        if uplift:
            low, high = uplift["incremental_conversions_ci95"]
            rlow, rhigh = uplift["incremental_revenue_ci95"]
            lift = (f"{percent(uplift['relative'])} relative; {uplift['incremental_conversions']:+.1f} conversions "
                    f"({low:+.1f} to {high:+.1f}); {money(uplift['incremental_revenue'], currency)} "
                    f"({money(rlow, currency)} to {money(rhigh, currency)})")
        rows.append([f"{c['variant']} vs {c['baseline']}", c["metric"], points(c["difference"]),
                     f"{points(c['ci95'][0])} to {points(c['ci95'][1])}", f"{c['p_value']:.3f}", lift, c["verdict"]])
    comparisons = _table(("comparison", "metric", ("difference", "the variant's rate minus the baseline's, in "
                                                                "percentage points (rates of customers assigned)"),
                          ("95% interval", "Newcombe's interval of the difference"), "p-value",
                          ("incremental (95% intervals)", "treated minus holdout per customer, × treated customers; "
                                                          "revenue by Welch's interval"), "verdict"), rows)
    return (f'<section class="experiment" id="experiment-{escape(e["key"])}"><h3>{escape(title)}: baseline '
            f'{escape(e["baseline"])}</h3>'
            f'<div class="charts">{charts.rate_bars(bars, "Conversion rate by variant in " + title)}</div>'
            f"{_winner(e)}{variants}{comparisons}</section>")


def _customers(c: Mapping[str, Any], currency: str) -> str:
    if not c.get("customers"):
        return f'<p class="note">{escape(c.get("note", "No purchases."))}</p>'
    t = c["lifecycle_thresholds_days"]
    lifecycle = _table(("stage", "customers", "rule"), [
        ["new", count(c["lifecycle"]["new"]), f"first purchase within {t['new']} days"],
        ["active", count(c["lifecycle"]["active"]), f"last purchase within {t['active']} days"],
        ["at risk", count(c["lifecycle"]["at_risk"]), f"last purchase {t['active']}–{t['at_risk']} days ago"],
        ["lapsed", count(c["lifecycle"]["lapsed"]), f"no purchase for over {t['at_risk']} days"]], id="lifecycle")
    rules = c["rfm"]["rules"]
    rfm = _table(("RFM segment", "customers", "revenue", "rule (quintile scores 1–5)"),
                 [[name, count(s["customers"]), money(s["revenue"], currency), rules[name]]
                  for name, s in c["rfm"]["segments"].items()], id="rfm")
    clv = c["clv"]
    if clv["value_per_customer"] is None:
        clv_text = f'<p>Customer lifetime value: <b id="clv">{escape(clv["note"])}</b>.</p>'
    else:
        clv_text = (f'<p>Customer lifetime value over the {clv["observed_days"]:,.0f} days observed: '
                    f'<b id="clv">{escape(money(clv["value_per_customer"], currency))}</b> per customer '
                    f'({clv["orders_per_customer"]:.2f} orders of {escape(money(clv["average_order_value"], currency))} '
                    f'on average); not projected beyond the history observed.</p>')
    width = max((len(r["retention"]) for r in c["cohorts"]), default=0)
    cohort_rows = [[r["cohort"], count(r["customers"]), *(percent(x, 0) for x in r["retention"]),
                    *([""] * (width - len(r["retention"])))] for r in c["cohorts"]]
    cohorts = _table(("first purchase", "customers",
                      *((f"month {k}", f"customers of the cohort who purchased in month {k} after their first purchase "
                                       "/ the cohort's customers") for k in range(width))), cohort_rows, id="cohorts")
    return (f"<p>{count(c['customers'])} customers, {count(c['orders'])} orders, "
            f"{escape(money(c['revenue'], currency))} as of {escape(c['as_of'][:10])}.</p>"
            f"<h3>Lifecycle stages</h3>{lifecycle}<h3>RFM segments</h3>{rfm}<h3>Lifetime value</h3>{clv_text}"
            f"<h3>Monthly retention cohorts</h3><p>Share of each cohort that purchased again in each month "
            f"after its first purchase.</p>{cohorts}")


def _change(row: Mapping[str, Any], currency: str) -> tuple[str, str]:
    """The change as a signed number (points for a rate) and its relative change, both coloured."""
    change = row["change"]
    if change is None:
        return "–", "–"
    if row["kind"] == "rate":
        text = points(change)
    elif row["kind"] == "money":
        text = ("+" if change >= 0 else "") + money(change, currency)
    else:
        text = f"{change:+,.0f}"
    relative = row["relative_change"]
    return text, "–" if relative is None else f"{relative * 100:+.1f}%"


def _value(row: Mapping[str, Any], key: str, currency: str) -> str:
    value = row[key]
    return percent(value) if row["kind"] == "rate" else money(value, currency) if row["kind"] == "money" else count(value)


def _comparison(report: Mapping[str, Any], currency: str) -> str:
    c = report.get("comparison")
    if not c:
        return ""
    before = c["previous_period"]
    span = f"{before['since'][:16].replace('T', ' ')} UTC up to this period's start"
    rows = []
    for row in (*c["revenue"], *c["totals"]):
        change, relative = _change(row, currency)
        rows.append([row["label"], _value(row, "current", currency), _value(row, "previous", currency), change,
                     relative, row["base"]])
    totals = _table(("", "this period", ("previous period", span), ("change", "this period minus the previous; "
                     "rates in percentage points"), ("relative change", "change / the previous period's value "
                                                     "(none for rates: their change is in points)"), "what it counts"),
                    rows, id="comparison")
    keys = ("entered", "sent", "clicked", "conversions", "conversion_rate", "attributed_revenue")
    headers: list[str | tuple[str, str]] = [""]
    journey_rows = []
    for j in c["journeys"]:
        by_key = {m["metric"]: m for m in j["metrics"]}
        cells = [j["name"]]
        for key in keys:
            m = by_key[key]
            change, relative = _change(m, currency)
            cells.append(f"{_value(m, 'current', currency)} ({change}" + (")" if relative == "–" else f", {relative})"))
        journey_rows.append(cells)
    for key in keys:
        m = next((m for j in c["journeys"] for m in j["metrics"] if m["metric"] == key), None)
        if m is not None:
            headers.append((m["label"], f"{m['base']}; in brackets the change from the previous period "
                                        + ("in percentage points" if m["kind"] == "rate" else "and its relative change")))
    per_journey = _table(headers, journey_rows, id="comparison-journeys") if journey_rows else ""
    return (f"<h2>Compared with the previous period</h2><p>The previous period runs from {escape(span)}: the same "
            f"length, just before. A change with no previous value is shown as –.</p>{totals}{per_journey}")


def _idle(report: Mapping[str, Any], maps: Mapping[str, Drawing] | None) -> str:
    """Journeys of the workspace with nothing in the period: drawn all the same, with their counts at 0."""
    idle = report.get("idle_journeys") or ()
    if not idle:
        return ""
    return ("<h2>Journeys with no activity in this period</h2>" + "".join(
        f'<section class="journey" id="journey-{escape(j["id"])}"><h3>{escape(j["name"])} '
        f'<small>({escape(j["id"])})</small></h3>{_map(j, (maps or {}).get(j["id"]))}</section>' for j in idle))


def _broadcasts(report: Mapping[str, Any]) -> str:
    """Where each broadcast of the workspace stands now (a live store's report only)."""
    rows = [[b["id"], b["status"], str(b.get("start") or ""), count(b.get("entered", 0)), count(b.get("sent", 0)),
             ", ".join(f"{k} {v:,}" for k, v in sorted((b.get("not_sent") or {}).items())),
             ", ".join(f"{k} {v:,}" for k, v in (b.get("waiting_by_zone") or {}).items())]
            for b in report.get("broadcasts") or ()]
    if not rows:
        return ""
    return ("<h2>Broadcasts</h2><p>Each broadcast as it stands now: customers entered, messages sent, not sent by "
            "reason, and customers whose moment has not come, by time zone.</p>"
            + _table(("broadcast", "status", "start", "entered", "sent", "not sent", "waiting by zone"), rows,
                     id="broadcasts"))


def _templates(report: Mapping[str, Any], currency: str) -> str:
    rows = [[t["id"], t.get("channel") or "", *_funnel_row("", t, currency)[2:]] for t in report.get("templates", ())]
    if not rows:
        return ""
    return ("<h3>Templates</h3><p>Each template's messages across every journey and step that sends it; goal "
            "conversions are last touch.</p>" + _table(("template", "channel", *FUNNEL_HEADERS[2:]), rows,
                                                      id="templates"))


def render_html(report: Mapping[str, Any], maps: Mapping[str, Drawing] | None = None) -> str:
    """`maps`: each journey's map laid out (engine/runtimes/d2.py); without them the report says it has none."""
    currency = report["currency"]
    period = report["period"]
    start, end = (period["since"] or report["data_from"] or "…"), (period["until"] or report["data_until"] or "…")
    span = f"{start[:16].replace('T', ' ')} to {end[:16].replace('T', ' ')} UTC"
    overview = _table(FUNNEL_HEADERS, [_funnel_row(j["name"], j, currency) for j in report["journeys"]]
                      + [_funnel_row("All journeys", report["totals"], currency)], id="journeys")
    channels = _table(("channel", *FUNNEL_HEADERS[2:]),
                      [[c["id"], *_funnel_row("", c, currency)[2:]] for c in report["channels"]], id="channels")
    experiments = "".join(_experiment(e, currency) for e in report["experiments"]) or "<p>No split or content tests in this period.</p>"
    unattributed = report["unattributed_provider_events"]
    orphan = (f"<p>Provider events that name no known message (sent outside the period or by another system): "
              f"{escape(', '.join(f'{k} {v:,}' for k, v in unattributed.items()))}.</p>") if unattributed else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Nudge report</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body><main>'
            f'<h1>Campaign performance</h1><p class="meta">{escape(span)} · source {escape(report["source"])} · '
            f'amounts in {escape(currency)}</p>{_cards(report, currency)}'
            f'{_comparison(report, currency)}'
            f'<p class="note">{escape(MACHINE_OPENS)}</p>{_revenue(report, currency)}'
            f'<h2>Journeys</h2>{overview}<h3>Channels</h3><p>Goal conversions here are last touch: the journey\'s '
            f'last message to the customer before the goal.</p>{channels}{_templates(report, currency)}{orphan}'
            + "".join(_journey(j, currency, (maps or {}).get(j["id"])) for j in report["journeys"])
            + _idle(report, maps) + _broadcasts(report)
            + f'<h2>Experiments</h2>{experiments}<h2>Customers</h2>{_customers(report["customers"], currency)}'
            "</main></body></html>\n")
