"""Turn per-round measurements into medians, ratios, noise bands and target verdicts; print
the table; draw the chart from the JSON."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    higher_better: bool
    #: (operator, bound) on the ratio Dockyard/reference, from issue 6.
    target: tuple[str, float] | None = None
    #: The system whose per-round figures hold the value (``dockyard-nginx``: Dockyard
    #: behind nginx, measured for the pulls only).
    system: str = "dockyard"
    #: The key in that system's figures and in the references' (default: ``key``).
    source: str | None = None

    @property
    def raw(self) -> str:
        return self.source or self.key


NGINX = "dockyard-nginx"


FIGURES: list[Figure] = [
    Figure("push_mono_c1_mbps", "push 4 blobs monolithic c=1", "MB/s", True, (">=", 1.0)),
    Figure("push_mono_c4_mbps", "push 4 blobs monolithic c=4", "MB/s", True, (">=", 1.0)),
    Figure("push_chunked_c1_mbps", "push 4 blobs chunked c=1", "MB/s", True, (">=", 1.0)),
    Figure("push_chunked_c4_mbps", "push 4 blobs chunked c=4", "MB/s", True, (">=", 1.0)),
    Figure("pull_c1_mbps", "pull blobs c=1", "MB/s", True, (">=", 1.2)),
    Figure("pull_c8_mbps", "pull blobs c=8", "MB/s", True),
    # The same blobs as the two above, pulled through nginx in front of the same Dockyard.
    Figure(
        "pull_c1_nginx_mbps",
        "pull blobs c=1 via nginx",
        "MB/s",
        True,
        system=NGINX,
        source="pull_c1_mbps",
    ),
    Figure(
        "pull_c8_nginx_mbps",
        "pull blobs c=8 via nginx",
        "MB/s",
        True,
        system=NGINX,
        source="pull_c8_mbps",
    ),
    Figure("manifest_get_rps", "manifest GET by tag c=32", "req/s", True, (">=", 2.0)),
    Figure("manifest_get_p50_ms", "manifest GET p50", "ms", False),
    Figure("manifest_get_p99_ms", "manifest GET p99", "ms", False, ("<=", 0.5)),
    Figure("blob_head_rps", "blob HEAD c=32", "req/s", True, (">=", 2.0)),
    Figure("blob_head_p50_ms", "blob HEAD p50", "ms", False),
    Figure("blob_head_p99_ms", "blob HEAD p99", "ms", False, ("<=", 0.5)),
    Figure("tags_list_rps", "tags list c=32", "req/s", True),
    Figure("tags_list_p50_ms", "tags list p50", "ms", False),
    Figure("tags_list_p99_ms", "tags list p99", "ms", False),
    Figure("v2_base_rps", "GET /v2/ c=32", "req/s", True),
    Figure("v2_base_p50_ms", "GET /v2/ p50", "ms", False),
    Figure("v2_base_p99_ms", "GET /v2/ p99", "ms", False),
    Figure("tiny_images_per_s", "tiny image push c=8", "img/s", True, (">=", 1.5)),
    Figure("peak_rss_mib", "peak RSS (all processes)", "MiB", False, ("<=", 2.5)),
    Figure("peak_pss_mib", "peak PSS (shared pages split)", "MiB", False),
    # nginx's processes alone, during the pulls through it; not in Dockyard's peak RSS.
    Figure("nginx_peak_rss_mib", "peak RSS of the nginx front", "MiB", False, system=NGINX),
    Figure("push_cpu_s_per_gb", "CPU per GB pushed", "s/GB", False),
    Figure("pull_cpu_s_per_gb", "CPU per GB pulled", "s/GB", False),
    # Dockyard's and nginx's CPU together, against the reference's CPU per GB pulled.
    Figure(
        "pull_nginx_cpu_s_per_gb",
        "CPU per GB pulled via nginx",
        "s/GB",
        False,
        system=NGINX,
        source="pull_cpu_s_per_gb",
    ),
    Figure("nginx_cpu_s_per_gb", "  of which nginx", "s/GB", False, system=NGINX),
    Figure("manifest_get_cpu_us", "CPU per manifest GET", "us", False),
    Figure("blob_head_cpu_us", "CPU per blob HEAD", "us", False),
    Figure("tags_list_cpu_us", "CPU per tags list", "us", False),
    Figure("v2_base_cpu_us", "CPU per GET /v2/", "us", False),
    Figure("tiny_cpu_ms_per_image", "CPU per tiny image", "ms", False),
]


#: Shares of the machine's ceilings: (summary key, figure, ceiling, label, target). The
#: 80 % target is issue 6's, on the loopback ceiling.
SHARES: list[tuple[str, str, str, str, float | None]] = [
    (
        "pull_c1_of_loopback",
        "pull_c1_mbps",
        "loopback_tcp_mbps_1",
        "Dockyard pull c=1 / loopback ceiling",
        0.8,
    ),
    (
        "pull_c1_of_sendfile",
        "pull_c1_mbps",
        "sendfile_tcp_mbps_1",
        "Dockyard pull c=1 / sendfile ceiling",
        None,
    ),
    (
        "pull_c1_nginx_of_loopback",
        "pull_c1_nginx_mbps",
        "loopback_tcp_mbps_1",
        "Dockyard via nginx pull c=1 / loopback ceiling",
        0.8,
    ),
    (
        "pull_c1_nginx_of_sendfile",
        "pull_c1_nginx_mbps",
        "sendfile_tcp_mbps_1",
        "Dockyard via nginx pull c=1 / sendfile ceiling",
        None,
    ),
]


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(rounds: list[dict[str, Any]], ceilings: dict[str, float]) -> dict[str, Any]:
    """Medians per system, ratio Dockyard/reference, A/A band, verdicts and targets."""
    out: dict[str, Any] = {}
    for fig in FIGURES:

        def series(system: str, key: str = fig.raw) -> list[float]:
            return [r["figures"].get(system, {}).get(key) for r in rounds]

        dy, ref, refb = series(fig.system), series("reference"), series("reference-b")
        if all(v is None for v in dy):  # e.g. no nginx front in these rounds
            continue
        aa_rounds = [b / a for a, b in zip(ref, refb, strict=True) if a and b is not None]
        m_dy, m_ref, m_refb = _median(dy), _median(ref), _median(refb)
        ratio = m_dy / m_ref if m_dy is not None and m_ref else None
        aa = m_refb / m_ref if m_refb is not None and m_ref else None
        band = (min([1.0, *aa_rounds]), max([1.0, *aa_rounds]))
        verdict = "n/a"
        if ratio is not None:
            if band[0] <= ratio <= band[1]:
                verdict = "noise"
            else:
                better = (ratio > band[1]) == fig.higher_better
                verdict = "better" if better else "worse"
        met = None
        if fig.target and ratio is not None:
            op, bound = fig.target
            met = ratio >= bound if op == ">=" else ratio <= bound
        out[fig.key] = {
            "label": fig.label,
            "unit": fig.unit,
            "higher_better": fig.higher_better,
            "dockyard": m_dy,
            "reference": m_ref,
            "reference_b": m_refb,
            "ratio": ratio,
            "aa_ratio": aa,
            "aa_band": band,
            "rounds": {"dockyard": dy, "reference": ref, "reference-b": refb},
            "verdict": verdict,
            "target": f"{fig.target[0]} {fig.target[1]}" if fig.target else None,
            "target_met": met,
        }
    for key, figure, ceiling_key, label, target in SHARES:
        pull = out.get(figure, {}).get("dockyard")
        ceiling = ceilings.get(ceiling_key)
        if pull and ceiling:
            frac = pull / ceiling
            # Each round's pull against the ceiling measured in that round (older results
            # measured the ceilings once per run: none).
            per_round = [
                p / r["ceilings"][ceiling_key] if p and r.get("ceilings") else None
                for p, r in zip(out[figure]["rounds"]["dockyard"], rounds, strict=True)
            ]
            out[key] = {
                "label": label,
                "value": frac,
                "rounds": per_round,
                "target": f">= {target}" if target is not None else None,
                "target_met": frac >= target if target is not None else None,
            }
    return out


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def table(result: dict[str, Any]) -> str:
    summary = result["summary"]
    head = (
        f"{'figure':34} {'unit':6} {'dockyard':>10} {'reference':>10} {'ratio':>7} "
        f"{'A/A':>6} {'A/A band':>13} {'verdict':>7}  target"
    )
    lines = [head, "-" * len(head)]
    for fig in FIGURES:
        if fig.key not in summary:  # a figure added after this result was recorded
            continue
        s = summary[fig.key]
        target = ""
        if s["target"]:
            target = f"{s['target']}  {'MET' if s['target_met'] else 'NOT MET'}"
        ratio = f"{s['ratio']:.2f}" if s["ratio"] is not None else "-"
        aa = f"{s['aa_ratio']:.2f}" if s["aa_ratio"] is not None else "-"
        band = f"{s['aa_band'][0]:.2f}-{s['aa_band'][1]:.2f}"
        lines.append(
            f"{fig.label:34} {fig.unit:6} {_fmt(s['dockyard']):>10} {_fmt(s['reference']):>10} "
            f"{ratio:>7} {aa:>6} {band:>13} {s['verdict']:>7}  {target}"
        )
    for key, *_ in SHARES:
        extra = summary.get(key)
        if not extra:  # older results: no such ceiling or figure
            continue
        line = f"{extra['label']}: {extra['value']:.2f}"
        if any(v is not None for v in extra.get("rounds", [])):
            line += " (rounds " + ", ".join(_fmt(v) for v in extra["rounds"]) + ")"
        if extra.get("target"):
            line += f" (target {extra['target']}: {'MET' if extra['target_met'] else 'NOT MET'})"
        lines.append(line)
    c = result["ceilings"]
    sendfile = c.get("sendfile_tcp_mbps_1")
    lines.append(
        "ceilings: loopback TCP 1 stream {:,.0f} MB/s{}, 8 streams {:,.0f} MB/s; {}"
        "SHA-256 {:,.0f} MB/s; fsynced write {:,.0f} MB/s; 4 KiB write+fsync {:,.0f}/s".format(
            c["loopback_tcp_mbps_1"],
            " (pinned, median of the rounds)" if "ceilings" in result["rounds"][0] else "",
            c["loopback_tcp_mbps_8"],
            f"sendfile 1 stream {sendfile:,.0f} MB/s; " if sendfile is not None else "",
            c["sha256_mbps"],
            c["fsync_write_mbps"],
            c["fsyncs_per_s"],
        )
    )
    cc = result.get("client_cpu_cores", {})
    if cc:
        worst = max(cc.items(), key=lambda kv: kv[1])
        lines.append(
            "client CPU (cores, median): "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cc.items()))
            + f"  (max {worst[0]})"
        )
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """The summary as a Markdown table, for docs/performance.md."""
    summary = result["summary"]
    lines = [
        "| figure | unit | Dockyard | reference | ratio | A/A | A/A band | verdict | target |",
        "|---|---|--:|--:|--:|--:|--:|---|---|",
    ]
    for fig in FIGURES:
        if fig.key not in summary:  # a figure added after this result was recorded
            continue
        s = summary[fig.key]
        target = ""
        if s["target"]:
            target = f"{s['target']} {'**met**' if s['target_met'] else '**not met**'}"
        ratio = f"{s['ratio']:.2f}" if s["ratio"] is not None else "-"
        aa = f"{s['aa_ratio']:.2f}" if s["aa_ratio"] is not None else "-"
        lines.append(
            f"| {fig.label} | {fig.unit} | {_fmt(s['dockyard'])} | {_fmt(s['reference'])} | "
            f"{ratio} | {aa} | {s['aa_band'][0]:.2f}-{s['aa_band'][1]:.2f} | {s['verdict']} | "
            f"{target} |"
        )
    return "\n".join(lines)


def draw_chart(json_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = json.loads(json_path.read_text())
    summary = result["summary"]
    figs = [f for f in FIGURES if summary.get(f.key, {}).get("ratio") is not None]
    labels, ratios, colors, bands, targets = [], [], [], [], []
    for f in figs:
        s = summary[f.key]
        # Normalise so that right of 1.0 is always "Dockyard better".
        r = s["ratio"] if f.higher_better else 1 / s["ratio"]
        lo, hi = s["aa_band"]
        band = (lo, hi) if f.higher_better else (1 / hi, 1 / lo)
        labels.append(f"{f.label} ({f.unit})")
        ratios.append(r)
        bands.append(band)
        target = None
        if f.target:
            target = f.target[1] if f.higher_better else 1 / f.target[1]
        targets.append(target)
        if s["target_met"] is True:
            colors.append("#2a9d4b")
        elif s["target_met"] is False:
            colors.append("#d1495b")
        else:
            colors.append("#7f8c8d")
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(labels) + 1.6))
    y = list(range(len(labels)))[::-1]
    # Bars grow from 1.0 (parity) towards the ratio, so left of 1 reads "Dockyard worse".
    ax.barh(y, [r - 1.0 for r in ratios], left=1.0, color=colors, height=0.55, zorder=2)
    for yi, (lo, hi) in zip(y, bands, strict=True):
        ax.fill_betweenx([yi - 0.42, yi + 0.42], lo, hi, color="#f4a261", alpha=0.5, lw=0, zorder=1)
    for yi, t in zip(y, targets, strict=True):
        if t is not None:
            ax.plot([t, t], [yi - 0.4, yi + 0.4], color="black", lw=2, zorder=3)
    for yi, r in zip(y, ratios, strict=True):
        ax.text(r, yi, f" {r:.2f} ", va="center", ha="left" if r >= 1 else "right", fontsize=8)
    ax.axvline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("Dockyard advantage over the reference (x, log scale; >1 = Dockyard better)")
    meta = result["meta"]
    ax.set_title(
        f"Dockyard vs docker-registry 2.8.2 - {meta['mode']} run, {meta['date']}, "
        f"rev {meta['revision'][:10]}{' (dirty)' if meta['dirty'] else ''}\n"
        "green: target met, red: target missed, grey: no target; "
        "orange: A/A noise band; black tick: target",
        fontsize=9,
    )
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
