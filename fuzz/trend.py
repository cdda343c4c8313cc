#!/usr/bin/env python3
"""The nightly fuzzing trend: one line of figures per run, and a page that draws them.

    fuzz/trend.py append REPORT_JSON HISTORY_JSONL [--commit C] [--note TEXT] [--time ISO]
    fuzz/trend.py draw HISTORY_JSONL OUT_HTML

`append` takes fuzz/nightly.sh's report.json and appends one JSON line to the history:
the time, the commit, the budget, line coverage of src/ (all targets), the number of
new findings (crashes, timeouts, OOMs), and per target execs/s, line coverage, corpus
size after cmin, new corpus entries and crashes.

`draw` writes a self-contained HTML page (inline SVG, no scripts, no dependencies):
execs/s per target (log scale), line coverage, corpus size and findings over the runs,
a table of the last runs, and at the top what got worse in the latest run against the
median of the runs before it (execs/s down by more than a quarter, coverage down by
more than half a point, any finding). It also prints those alerts as Markdown lines,
so nightly.sh can add them to report.md. Standard library only.
"""

import datetime
import html
import json
import math
import pathlib
import statistics
import sys

WINDOW = 7              # earlier runs the latest one is compared with (median)
SLOWER = 0.75           # execs/s below this fraction of the median: an alert
COVERAGE_DROP = 0.5     # coverage points below the median: an alert
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf", "#393b79"]


def append(report_path, history_path, commit, note, when):
    report = json.loads(pathlib.Path(report_path).read_text())
    targets = {}
    for t in report.get("targets", []):
        targets[t["target"]] = {
            "execs_per_sec": t.get("execs_per_sec"),
            "coverage": t.get("line_coverage_percent"),
            "corpus": t.get("corpus_after_cmin"),
            "new_entries": t.get("new_corpus_entries"),
            "crashes": t.get("crashes"),
        }
    line = {
        "time": when or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "budget_seconds": report.get("budget_seconds"),
        "coverage": report.get("line_coverage_percent_all_targets"),
        "findings": len(report.get("crashes", [])),
        "replay": report.get("replay"),
        "targets": targets,
    }
    if note:
        line["note"] = note
    path = pathlib.Path(history_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")


def load(history_path):
    runs = []
    for text in pathlib.Path(history_path).read_text().splitlines():
        text = text.strip()
        if text:
            runs.append(json.loads(text))
    return runs


def alerts(runs):
    """What got worse in the last run, against the median of up to WINDOW runs before."""
    if not runs:
        return []
    last, before = runs[-1], runs[-1 - WINDOW:-1]
    out = []
    if last.get("findings"):
        out.append(f"{last['findings']} new finding(s) (crash, timeout or OOM)")
    if last.get("replay") not in (None, "passed"):
        out.append(f"corpus replay {last['replay']}")
    if not before:
        return out
    covs = [r["coverage"] for r in before if r.get("coverage") is not None]
    if covs and last.get("coverage") is not None:
        median = statistics.median(covs)
        if last["coverage"] < median - COVERAGE_DROP:
            out.append(f"line coverage {last['coverage']}% (median of the previous "
                       f"{len(covs)} runs: {median}%)")
    for name, figures in sorted(last.get("targets", {}).items()):
        rate = figures.get("execs_per_sec")
        rates = [r["targets"][name]["execs_per_sec"] for r in before
                 if r.get("targets", {}).get(name, {}).get("execs_per_sec")]
        if rate is not None and rates:
            median = statistics.median(rates)
            if rate < median * SLOWER:
                out.append(f"{name}: {rate} execs/s (median of the previous {len(rates)} "
                           f"runs: {median:.0f})")
        cov = figures.get("coverage")
        covs = [r["targets"][name]["coverage"] for r in before
                if r.get("targets", {}).get(name, {}).get("coverage") is not None]
        if cov is not None and covs and cov < statistics.median(covs) - COVERAGE_DROP:
            out.append(f"{name}: coverage {cov}% (median {statistics.median(covs)}%)")
    return out


def chart(title, runs, series, log=False, unit="", bars=False):
    """One SVG chart: `series` is [(name, [value or None per run])]."""
    width, height, left, right, top, bottom = 860, 260, 64, 150, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vs in series for v in vs if v is not None and (v > 0 or not log)]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">'
             f'{html.escape(title)}</text>']
    if not values:
        parts.append(f'<text x="{left}" y="{top + 20}">no data yet</text></svg>')
        return "".join(parts)
    lo, hi = min(values), max(values)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if bars:
        lo = 0
    if hi == lo:
        hi, lo = hi + 1, lo - (0 if bars else 1)
    pad = (hi - lo) * 0.05
    lo, hi = (lo if bars else lo - pad), hi + pad
    n = len(runs)

    def x(i):
        return left + (plot_w * (i + 0.5) / n)

    def y(v):
        v = math.log10(v) if log else v
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
                 f'fill="none" stroke="#ccc"/>')
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        shown = 10 ** v if log else v
        label = f"{shown:,.0f}" if abs(shown) >= 100 else f"{shown:.2f}".rstrip("0").rstrip(".")
        yy = top + plot_h * (1 - k / 4)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" '
                     f'stroke="#eee"/><text x="{left - 4}" y="{yy + 4:.1f}" '
                     f'text-anchor="end">{label}{unit}</text>')
    step = max(1, n // 8)
    for i in range(0, n, step):
        day = str(runs[i].get("time", ""))[:10]
        parts.append(f'<text x="{x(i):.1f}" y="{height - 18}" text-anchor="middle">'
                     f'{html.escape(day)}</text>')
    for k, (name, vs) in enumerate(series):
        color = COLORS[k % len(COLORS)]
        if bars:
            bw = max(2.0, plot_w / n / (len(series) + 1))
            for i, v in enumerate(vs):
                if v:
                    bx = x(i) - bw * len(series) / 2 + k * bw
                    parts.append(f'<rect x="{bx:.1f}" y="{y(v):.1f}" width="{bw:.1f}" '
                                 f'height="{top + plot_h - y(v):.1f}" fill="{color}">'
                                 f'<title>{html.escape(name)}: {v}</title></rect>')
        else:
            points = [(x(i), y(v)) for i, v in enumerate(vs)
                      if v is not None and (v > 0 or not log)]
            if len(points) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
                parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                             f'stroke-width="1.8"/>')
            for (px, py), v in zip(points, [v for v in vs if v is not None and (v > 0 or not log)]):
                parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{color}">'
                             f'<title>{html.escape(name)}: {v}{unit}</title></circle>')
        ly = top + 6 + k * 15
        parts.append(f'<rect x="{width - right + 10}" y="{ly}" width="10" height="10" '
                     f'fill="{color}"/><text x="{width - right + 25}" y="{ly + 9}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def draw(history_path, out_path):
    runs = load(history_path)
    names = sorted({name for r in runs for name in r.get("targets", {})})

    def per_target(key):
        return [(name, [r.get("targets", {}).get(name, {}).get(key) for r in runs])
                for name in names]

    found = alerts(runs)
    body = ["<!doctype html><html><head><meta charset='utf-8'>",
            "<title>pickleproof nightly fuzzing trend</title>",
            "<style>body{font-family:sans-serif;margin:24px;max-width:900px}"
            "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
            "padding:2px 6px;text-align:right}.bad{color:#b00;font-weight:bold}</style>",
            "</head><body><h1>pickleproof nightly fuzzing</h1>",
            f"<p>{len(runs)} runs, from {html.escape(str(runs[0].get('time', '?')) if runs else '-')} "
            f"to {html.escape(str(runs[-1].get('time', '?')) if runs else '-')}.</p>"]
    if found:
        body.append("<h2 class='bad'>Worse in the latest run</h2><ul>")
        body += [f"<li class='bad'>{html.escape(a)}</li>" for a in found]
        body.append("</ul>")
    else:
        body.append("<p>Latest run: nothing got worse (execs/s within a quarter of the "
                    f"median of the previous {WINDOW} runs, coverage within "
                    f"{COVERAGE_DROP} points, no finding).</p>")
    body.append(chart("execs/s per target (log scale)", runs, per_target("execs_per_sec"),
                      log=True))
    cov = [("all targets", [r.get("coverage") for r in runs])] + per_target("coverage")
    body.append(chart("line coverage of src/ (%)", runs, cov, unit="%"))
    body.append(chart("corpus size after cmin (files)", runs, per_target("corpus")))
    body.append(chart("new findings (crashes, timeouts, OOMs)", runs,
                      [("findings", [r.get("findings", 0) for r in runs])], bars=True))
    body.append("<h2>Last runs</h2><table><tr><th>time</th><th>commit</th><th>budget s</th>"
                "<th>coverage %</th><th>findings</th>"
                + "".join(f"<th>{html.escape(n)} execs/s</th>" for n in names) + "</tr>")
    for r in runs[-20:][::-1]:
        cells = [str(r.get("time", ""))[:16], r.get("commit", ""), r.get("budget_seconds", ""),
                 r.get("coverage", ""), r.get("findings", "")]
        cells += [r.get("targets", {}).get(n, {}).get("execs_per_sec", "") for n in names]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    body.append("</table>")
    notes = [(r.get("time", ""), r["note"]) for r in runs[-20:] if r.get("note")]
    if notes:
        body.append("<h2>Notes</h2><ul>")
        body += [f"<li>{html.escape(str(t)[:16])}: {html.escape(n)}</li>" for t, n in notes]
        body.append("</ul>")
    body.append("</body></html>")
    pathlib.Path(out_path).write_text("\n".join(body) + "\n")
    print("")
    print("## Trend")
    if found:
        print("Worse than the previous runs:")
        for a in found:
            print(f"- **{a}**")
    else:
        print(f"Nothing got worse against the previous runs ({len(runs)} in the history).")


def main(argv):
    if len(argv) >= 3 and argv[0] == "append":
        opts = {"--commit": "", "--note": "", "--time": ""}
        rest = argv[3:]
        while rest:
            key, value, rest = rest[0], rest[1], rest[2:]
            opts[key] = value
        append(argv[1], argv[2], opts["--commit"], opts["--note"], opts["--time"])
    elif len(argv) == 3 and argv[0] == "draw":
        draw(argv[1], argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
