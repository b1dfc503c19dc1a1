"""The HTML report: one self-contained file (inline CSS and SVG), readable tables, numbers for people."""

from __future__ import annotations

from html import escape
from typing import Any, Mapping, Sequence

from engine.reports import charts
from engine.reports.formatting import count, money, percent, points

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;margin:0;background:#f6f7f9}
main{max-width:1400px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:21px;margin:36px 0 8px;border-bottom:2px solid #dde2ea;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 6px}.meta{color:#5b6576;margin:0 0 18px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:10px 16px;min-width:130px}
.card b{display:block;font-size:22px}.card.primary{border-color:#2f6fdb;box-shadow:inset 4px 0 #2f6fdb}
.card span{color:#5b6576;font-size:13px}
table{border-collapse:collapse;background:#fff;margin:8px 0 16px;font-variant-numeric:tabular-nums;font-size:13.5px}
th,td{border:1px solid #dde2ea;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#eef1f6;font-weight:600}td:first-child,th:first-child{text-align:left}
.note{background:#fff8e6;border:1px solid #f0d58c;border-radius:6px;padding:8px 12px;max-width:900px}
.verdict{font-weight:600}.charts{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.chart{background:#fff;border:1px solid #dde2ea;border-radius:6px}
.chart .axis{font-size:12px;fill:#5b6576}.chart .value{font-size:12px;fill:#1d2430}
.chart .grid{stroke:#dde2ea}.chart .whisker{stroke:#1d2430;stroke-width:2}
"""

MACHINE_OPENS = (
    "Opens are shown but are not a primary signal: Apple Mail Privacy Protection and similar "
    "prefetching load every image of a message, so a machine can 'open' mail nobody read. "
    "Clicks and conversions are the signals to judge a journey by. An open or click without a "
    "delivery event counts the message as delivered; every count is unique per message.")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], id: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' id="{escape(id)}"' if id else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


FUNNEL_HEADERS = ("", "entered", "sent", "delivered", "opened", "clicked", "CTR", "conversions", "conv. rate",
                  "revenue", "rev./recipient", "unsubscribed", "bounced", "complaints")


def _funnel_row(label: str, f: Mapping[str, Any], currency: str) -> list[str]:
    r = f["rates"]
    return [label, count(f["entered"]), count(f["sent"]), count(f["delivered"]), count(f["opened"]),
            count(f["clicked"]), percent(r["click_rate"]), count(f["conversions"]), percent(r["conversion_rate"]),
            money(f["revenue"], currency), money(r["revenue_per_recipient"], currency), count(f["unsubscribed"]),
            count(f["bounced"]), count(f["complained"])]


def _cards(totals: Mapping[str, Any], currency: str) -> str:
    r = totals["rates"]
    cards = [("Conversions", count(totals["conversions"]), f"{percent(r['conversion_rate'])} of entries", True),
             ("Revenue", money(totals["revenue"], currency), f"{money(r['revenue_per_recipient'], currency)} per recipient", True),
             ("Clicks", count(totals["clicked"]), f"{percent(r['click_rate'])} of delivered", True),
             ("Entered", count(totals["entered"]), "journey entries", False),
             ("Sent", count(totals["sent"]), f"{percent(r['delivery_rate'])} delivered", False),
             ("Opened", count(totals["opened"]), f"{percent(r['open_rate'])} (machine opens included)", False),
             ("Unsubscribed", count(totals["unsubscribed"]), f"{percent(r['unsubscribe_rate'])} of delivered", False)]
    return '<div class="cards">' + "".join(
        f'<div class="card{" primary" if primary else ""}"><span>{escape(name)}</span><b>{escape(value)}</b>'
        f'<span>{escape(sub)}</span></div>' for name, value, sub, primary in cards) + "</div>"


def _reasons(f: Mapping[str, Any]) -> str:
    rows = [[status, reason, count(n)] for status in ("suppressed", "skipped", "failed") for reason, n in f[status].items()]
    return _table(("status", "reason", "messages"), rows) if rows else ""


def _journey(j: Mapping[str, Any], currency: str) -> str:
    stages = [("entered", j["entered"]), ("sent", j["sent"]), ("delivered", j["delivered"]), ("opened", j["opened"]),
              ("clicked", j["clicked"]), ("converted", j["conversions"])]
    daily = j["daily"]
    days = [d["date"] for d in daily]
    series = [(name, [float(d[name]) for d in daily]) for name in ("sent", "clicked", "conversions")]
    parts = [f'<section class="journey" id="journey-{escape(j["id"])}"><h2>{escape(j["name"])} '
             f'<small>({escape(j["id"])})</small></h2><div class="charts">',
             charts.funnel(stages, f"Funnel of {j['id']}")]
    if days:
        parts.append(charts.time_series(days, series, f"Daily activity of {j['id']}"))
    parts.append("</div><h3>Steps</h3>")
    parts.append(_table(("step", "channel", *FUNNEL_HEADERS[2:]),
                        [[s["id"], s.get("channel") or "", *_funnel_row("", s, currency)[2:]] for s in j["steps"]]))
    if j["variants"]:
        parts.append("<h3>Variants</h3>" + _table(("variant", "customers", *FUNNEL_HEADERS[2:]),
                                                   [_funnel_row(v["id"], v, currency) for v in j["variants"]]))
    reasons = _reasons(j)
    if reasons:
        parts.append("<h3>Not sent, by reason</h3>" + reasons)
    return "".join(parts) + "</section>"


def _arm_name(v: Mapping[str, Any]) -> str:
    name = str(v["variant"])
    return name + (" (holdout)" if v["holdout"] and "holdout" not in name else "")


def _experiment(e: Mapping[str, Any], currency: str) -> str:
    bars = [(_arm_name(v), v["conversion_rate"], *v["conversion_ci95"]) for v in e["variants"]]
    variants = _table(("variant", "customers", "converted", "conversion rate", "95% interval", "clicked", "click rate",
                       "revenue", "revenue/customer"),
                      [[_arm_name(v), count(v["customers"]), count(v["converted"]),
                        percent(v["conversion_rate"]),
                        f"{percent(v['conversion_ci95'][0])} – {percent(v['conversion_ci95'][1])}",
                        count(v["clicked"]), percent(v["click_rate"]), money(v["revenue"], currency),
                        money(v["revenue_per_customer"], currency)] for v in e["variants"]])
    rows = []
    for c in e["comparisons"]:
        uplift = c.get("uplift")
        lift = (f"{percent(uplift['relative'])} relative, {uplift['incremental_conversions']:+.1f} conversions, "
                f"{money(uplift['incremental_revenue'], currency)}") if uplift else ""
        rows.append([f"{c['variant']} vs {c['baseline']}", c["metric"], points(c["difference"]),
                     f"{points(c['ci95'][0])} to {points(c['ci95'][1])}", f"{c['p_value']:.3f}", lift, c["verdict"]])
    comparisons = _table(("comparison", "metric", "difference", "95% interval", "p-value", "uplift", "verdict"), rows)
    return (f'<section class="experiment"><h3>{escape(e["journey"])}: baseline {escape(e["baseline"])}</h3>'
            f'<div class="charts">{charts.rate_bars(bars, "Conversion rate by variant in " + e["journey"])}</div>'
            f"{variants}{comparisons}</section>")


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
    clv_text = (f'<p>Estimated customer lifetime value: <b id="clv">{escape(money(clv["estimate"], currency))}</b> = '
                f'average order {escape(money(clv["average_order_value"], currency))} × '
                f'{clv["orders_per_customer_per_year"]:.2f} orders per customer per year × '
                f'{clv["expected_lifespan_years"]:g} years of expected lifespan (an assumption; history observed: '
                f'{clv["observed_years"]:.2f} years).</p>')
    width = max((len(r["retention"]) for r in c["cohorts"]), default=0)
    cohort_rows = [[r["cohort"], count(r["customers"]), *(percent(x, 0) for x in r["retention"]),
                    *([""] * (width - len(r["retention"])))] for r in c["cohorts"]]
    cohorts = _table(("first purchase", "customers", *(f"month {k}" for k in range(width))), cohort_rows, id="cohorts")
    return (f"<p>{count(c['customers'])} customers, {count(c['orders'])} orders, "
            f"{escape(money(c['revenue'], currency))} as of {escape(c['as_of'][:10])}.</p>"
            f"<h3>Lifecycle stages</h3>{lifecycle}<h3>RFM segments</h3>{rfm}<h3>Lifetime value</h3>{clv_text}"
            f"<h3>Monthly retention cohorts</h3><p>Share of each cohort that purchased again in each month "
            f"after its first purchase.</p>{cohorts}")


def render_html(report: Mapping[str, Any]) -> str:
    currency = report["currency"]
    period = report["period"]
    start, end = (period["since"] or report["data_from"] or "…"), (period["until"] or report["data_until"] or "…")
    span = f"{start[:16].replace('T', ' ')} to {end[:16].replace('T', ' ')} UTC"
    overview = _table(FUNNEL_HEADERS, [_funnel_row(j["name"], j, currency) for j in report["journeys"]]
                      + [_funnel_row("All journeys", report["totals"], currency)], id="journeys")
    channels = _table(("channel", *FUNNEL_HEADERS[1:]),
                      [_funnel_row(c["id"], c, currency) for c in report["channels"]], id="channels")
    experiments = "".join(_experiment(e, currency) for e in report["experiments"]) or "<p>No split tests in this period.</p>"
    unattributed = report["unattributed_provider_events"]
    orphan = (f"<p>Provider events that name no known message (sent outside the period or by another system): "
              f"{escape(', '.join(f'{k} {v:,}' for k, v in unattributed.items()))}.</p>") if unattributed else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Nudge report</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body><main>'
            f'<h1>Campaign performance</h1><p class="meta">{escape(span)} · source {escape(report["source"])} · '
            f'amounts in {escape(currency)}</p>{_cards(report["totals"], currency)}'
            f'<p class="note">{escape(MACHINE_OPENS)}</p>'
            f'<h2>Journeys</h2>{overview}<h3>Channels</h3>{channels}{orphan}'
            + "".join(_journey(j, currency) for j in report["journeys"])
            + f'<h2>Experiments</h2>{experiments}<h2>Customers</h2>{_customers(report["customers"], currency)}'
            "</main></body></html>\n")
