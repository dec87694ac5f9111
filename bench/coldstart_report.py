#!/usr/bin/env python3
"""bench/coldstart_report.py RAW.jsonl OUTDIR: the cold-start report.

Reads the raw results bench/coldstart.sh wrote (one JSON object a line:
"meta", one "image" per image, one "result" per variant run) and writes
  OUTDIR/coldstart.txt    the table (medians) and the targets, met or missed
  OUTDIR/coldstart.json   the same as JSON
  OUTDIR/coldstart.png    time to ready per variant (gnuplot, log scale)
and prints the text to stdout.  Ratios are against the faster (by
median) of the two plain pulls, pull-pigz and pull-stream, of the same
image and RTT: "12.0x" means 12 times faster.  The ls -lR rows (lsr-*)
are compared with lsr-local instead.
"""
import json
import os
import statistics
import subprocess
import sys

ORDER = ["pull-pigz", "pull-stream", "pull-umoci", "clipfs", "clipfs-prefetch",
         "clipfs-warm", "clipfs-layers", "clipfs-fuse", "clipfs-fuse-prefetch", "clipfs-fuse-warm",
         "base", "base-prefetch", "base-warm", "squashfs", "local",
         "lsr-local", "lsr-clipfs", "lsr-clipfs-fuse"]
PULLS = ("pull-pigz", "pull-stream")
# With --base: each clipfs variant against the other build's, run for run.
AGAINST_BASE = {"clipfs": "base", "clipfs-prefetch": "base-prefetch",
                "clipfs-warm": "base-warm"}
# Warm variants against the local rootfs, run for run.
AGAINST_LOCAL = {"clipfs-warm": "local", "clipfs-layers": "local"}
LABEL = {
    "pull-pigz": "full pull: skopeo + pigz|tar",
    "pull-stream": "full pull: parallel curl, streamed igzip|tar",
    "pull-umoci": "full pull: skopeo + umoci unpack",
    "clipfs": "clipfs, cold",
    "clipfs-prefetch": "clipfs + prefetch list, cold",
    "clipfs-warm": "clipfs, disk cache kept",
    "clipfs-layers": "clipfs, disk cache kept with every layer file",
    "clipfs-fuse": "clipfs FUSE tree, cold",
    "clipfs-fuse-prefetch": "clipfs FUSE tree + prefetch list, cold",
    "clipfs-fuse-warm": "clipfs FUSE tree, disk cache kept",
    "lsr-local": "ls -lR, local rootfs (ext4)",
    "lsr-clipfs": "ls -lR, clipfs",
    "lsr-clipfs-fuse": "ls -lR, clipfs FUSE tree",
    "squashfs": "squashfs via httpfs2 + squashfuse_ll",
    "local": "local rootfs (already unpacked)",
    "base": "base build, cold",
    "base-prefetch": "base build + prefetch list, cold",
    "base-warm": "base build, disk cache kept",
}
TARGET_RTT = 20


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def load(path):
    meta, images, results = {}, {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            o = json.loads(line)
            t = o.get("type")
            if t == "meta":
                meta = o
            elif t == "image":
                images[o["image"]] = o
            elif t == "result":
                results.append(o)
            elif t == "base":
                meta["base"] = o.get("clipfs")
    return meta, images, results


def summarise(images, results):
    groups = {}
    for r in results:
        groups.setdefault((r["image"], r["rtt_ms"], r["variant"]), []).append(r)
    rows = []
    for (img, rtt, v), rs in groups.items():
        ok = [r for r in rs if r.get("ok")]
        row = {"image": img, "rtt_ms": rtt, "variant": v, "runs": len(ok),
               "failed": len(rs) - len(ok)}
        if ok:
            secs = [r["seconds"] for r in ok]
            row["seconds_median"] = med(secs)
            row["seconds_all"] = secs
            row["bytes_median"] = med([r["proxy"]["bytes_down"] for r in ok])
            row["requests_median"] = med([r["proxy"]["requests"] for r in ok])
            row["page_cache_median"] = med([r.get("page_cache_bytes") for r in ok])
            comp = images.get(img, {}).get("compressed_bytes")
            if comp:
                row["bytes_percent_of_image"] = 100.0 * row["bytes_median"] / comp
            cl = [r["clipfs"] for r in ok if "clipfs" in r]
            if cl:
                row["clipfs"] = {
                    "requests": med([c.get("requests") for c in cl]),
                    "bytes_fetched": med([c.get("bytes_fetched") for c in cl]),
                    "bytes_served": med([c.get("bytes_served") for c in cl]),
                    "spans_inflated": med([c.get("spans_inflated") for c in cl]),
                    "readahead_spans": med([c.get("readahead_spans") for c in cl]),
                    "disk_hits": med([c.get("cache", {}).get("disk_hits") for c in cl]),
                    "memory_hits": med([c.get("cache", {}).get("memory_hits") for c in cl]),
                    "ready_ms": med([c.get("ready_ms") for c in cl]),
                    "mode": cl[0].get("mode"),
                    "fetch_p50_us": med([c.get("fetch_latency_us", {}).get("p50") for c in cl]),
                    "fetch_p90_us": med([c.get("fetch_latency_us", {}).get("p90") for c in cl]),
                    "fetch_p99_us": med([c.get("fetch_latency_us", {}).get("p99") for c in cl]),
                    "fuse_reads": med([c.get("fuse", {}).get("reads") for c in cl]),
                    "fuse_lookups": med([c.get("fuse", {}).get("lookups") for c in cl]),
                    "errors": {k: max(c.get("errors", {}).get(k, 0) for c in cl)
                               for k in ("fetch", "checksum", "read_eio", "disk_cache")},
                }
        rows.append(row)
    add_speedups(rows)
    key = {v: i for i, v in enumerate(ORDER)}
    rows.sort(key=lambda r: (r["image"] != "small", r["image"], r["rtt_ms"],
                             key.get(r["variant"], 99)))
    return rows


def add_speedups(rows):
    """Each row's speedup against its baseline: the faster plain pull, or
    lsr-local for the ls -lR rows."""
    best = {}
    for r in rows:
        k, t = (r["image"], r["rtt_ms"]), r.get("seconds_median")
        if r["variant"] in PULLS and t and (k not in best or t < best[k][0]):
            best[k] = (t, r["variant"])
        if r["variant"] == "lsr-local" and t:
            best[k + ("lsr",)] = (t, "lsr-local")
    for r in rows:
        k = (r["image"], r["rtt_ms"])
        if r["variant"].startswith("lsr-"):
            k += ("lsr",)
        if k in best and r.get("seconds_median"):
            r["baseline"] = best[k][1]
            r["speedup"] = best[k][0] / r["seconds_median"]


def worst_ratio(images, rtts, by, num, den, key="seconds_median"):
    """The highest num/den over every image and RTT: (ratio, image, rtt)."""
    worst = None
    for img in images:
        for rtt in rtts:
            a = by.get((img, rtt, num), {}).get(key)
            b = by.get((img, rtt, den), {}).get(key)
            if a is None or not b:
                continue
            if worst is None or a / b > worst[0]:
                worst = (a / b, img, rtt)
    return worst


def targets(images, rows):
    by = {(r["image"], r["rtt_ms"], r["variant"]): r for r in rows}
    rtts = sorted({r["rtt_ms"] for r in rows})
    trtt = TARGET_RTT if TARGET_RTT in rtts else (max(rtts) if rtts else None)
    out = []

    def speed(img, v):
        return by.get((img, trtt, v), {}).get("speedup")

    for img, v, goal in (("big", "clipfs", 10), ("big", "clipfs-prefetch", 20),
                         ("small", "clipfs", 4), ("small", "clipfs-prefetch", 5)):
        s = speed(img, v)
        if img in images:
            out.append({"target": f"{img} {v} vs the faster pull at {trtt} ms >= {goal}x",
                        "value": None if s is None else round(s, 2),
                        "met": s is not None and s >= goal})
    # clipfs ahead of the lazy peer in every row (each image and RTT)
    for v in ("clipfs", "clipfs-prefetch"):
        worst = None
        for img in images:
            for rtt in rtts:
                a = by.get((img, rtt, v), {}).get("seconds_median")
                b = by.get((img, rtt, "squashfs"), {}).get("seconds_median")
                if a is None or b is None:
                    continue
                ratio = b / a
                if worst is None or ratio < worst[0]:
                    worst = (ratio, img, rtt)
        if worst:
            out.append({"target": f"{v} ahead of squashfs in every row "
                                  f"(worst: {worst[1]} at {worst[2]} ms, squashfs/clipfs)",
                        "value": round(worst[0], 2), "met": worst[0] > 1.0})
    for v in ("clipfs", "clipfs-prefetch"):
        if "small" not in images:
            break
        worst = max((r.get("bytes_percent_of_image", 0) for r in rows
                     if r["image"] == "small" and r["variant"] == v), default=None)
        if worst is not None:
            out.append({"target": f"small {v} bytes from the registry <= 18% of the "
                                  "compressed image (worst RTT)",
                        "value": round(worst, 1), "met": worst <= 18.0})
    for num, den, goal, what in (
            ("clipfs-warm", "local", 1.1, "time"),
            ("clipfs-layers", "local", 1.1, "time"),
            ("clipfs-fuse-warm", "local", 1.1, "time"),
            ("lsr-clipfs", "lsr-local", 0.7, "ls -lR time"),
            ("lsr-clipfs-fuse", "lsr-local", 0.7, "ls -lR time")):
        worst = worst_ratio(images, rtts, by, num, den)
        if worst:
            out.append({"target": f"{num} {what} <= {goal}x {den}'s "
                                  f"(worst: {worst[1]} at {worst[2]} ms)",
                        "value": round(worst[0], 2), "met": worst[0] <= goal})
    # Page cache per byte of file data read: the local rootfs run reads
    # the same files once from ext4, so its page cache stands for "the
    # bytes read" (with ext4's own readahead).
    for v in ("clipfs-warm", "clipfs-layers", "clipfs-fuse-warm", "clipfs"):
        worst = worst_ratio(images, rtts, by, v, "local", "page_cache_median")
        if worst:
            out.append({"target": f"{v} page cache <= 1.1x the local rootfs run's "
                                  f"(worst: {worst[1]} at {worst[2]} ms)",
                        "value": round(worst[0], 2), "met": worst[0] <= 1.1})
    return out


def fmt_bytes(b):
    if b is None:
        return "-"
    return f"{b / 1e6:.1f}"


def text(meta, images, rows, tg):
    L = []
    L.append(f"clipfs cold start, {meta.get('date', '?')}, clipfs {meta.get('clipfs', '?')}, "
             f"{meta.get('runs', '?')} runs (medians), {meta.get('rate_mbit', '?')} Mbit/s, "
             f"{meta.get('nproc', '?')} cores")
    for img, o in sorted(images.items(), key=lambda kv: kv[0] != "small"):
        L.append(f"image {img}: {o['layers']} layers, {o['compressed_bytes'] / 1e6:.1f} MB "
                 f"compressed (squashfs {o['squashfs_bytes'] / 1e6:.1f} MB), index "
                 f"{o['index_bytes'] / 1e3:.0f} KB ({100 * o['index_bytes'] / o['compressed_bytes']:.2f}%)"
                 + (f", with the prefetch list {o['prefetch_index_bytes'] / 1e3:.0f} KB "
                    f"({100 * o['prefetch_index_bytes'] / o['compressed_bytes']:.2f}%)"
                    if 'prefetch_index_bytes' in o else "")
                 + f", prefetch list {o['prefetch_entries']} entries; workload: python3 -c '{o['workload']}'")
    L.append("")
    hdr = (f"{'image':<6} {'RTT':>4} {'variant':<20} {'ready s':>8} {'vs pull':>8} "
           f"{'MB':>8} {'% img':>6} {'reqs':>6} {'cache MB':>8} | {'spans':>6} {'p50 ms':>7} "
           f"{'p90 ms':>7}")
    L.append(hdr)
    L.append("-" * len(hdr))
    prev = None
    for r in rows:
        if prev and (prev["image"], prev["rtt_ms"]) != (r["image"], r["rtt_ms"]):
            L.append("")
        prev = r
        if not r.get("runs"):
            L.append(f"{r['image']:<6} {r['rtt_ms']:>4} {r['variant']:<20} FAILED")
            continue
        c = r.get("clipfs")
        sp = r.get("speedup")
        pct = r.get("bytes_percent_of_image")
        cl = (f"{c['spans_inflated']:>6.0f} {c['fetch_p50_us'] / 1000:>7.1f} "
              f"{c['fetch_p90_us'] / 1000:>7.1f}" if c and c.get("fetch_p50_us") is not None
              else f"{'':>6} {'':>7} {'':>7}")
        L.append(f"{r['image']:<6} {r['rtt_ms']:>4} {r['variant']:<20} "
                 f"{r['seconds_median']:>8.2f} {(f'{sp:.2f}x' if sp else '-'):>8} "
                 f"{fmt_bytes(r['bytes_median']):>8} {(f'{pct:.1f}' if pct is not None else '-'):>6} "
                 f"{r['requests_median']:>6.0f} {fmt_bytes(r.get('page_cache_median')):>8} | {cl}"
                 + (f"  ({r['failed']} failed)" if r.get("failed") else ""))
    L.append("")
    L.append("vs pull: the faster plain pull's time over this row's (pull-pigz or pull-stream;")
    L.append("  the lsr-* rows, ls -lR of the whole tree: lsr-local's time over this row's);")
    L.append("MB and reqs: bytes and HTTP requests from the registry, counted at the proxy;")
    L.append("cache MB: page cache charged by the workload's end, its clipfs daemon's included")
    L.append("  (memory cgroup; read before the umount or rm -rf);")
    L.append("spans, p50/p90: clipfs stats (spans inflated, registry fetch latency).")
    L.append("")
    L.append("Targets:")
    for t in tg:
        L.append(f"  [{'met' if t['met'] else 'MISSED':>6}] {t['target']}: {t['value']}")
    return "\n".join(L) + "\n"


def plot(rows, outdir):
    clusters = []
    for r in rows:
        k = (r["image"], r["rtt_ms"])
        if k not in clusters:
            clusters.append(k)
    variants = [v for v in ORDER if any(r["variant"] == v for r in rows)]
    by = {(r["image"], r["rtt_ms"], r["variant"]): r.get("seconds_median") for r in rows}
    dat = os.path.join(outdir, "coldstart.dat")
    with open(dat, "w") as f:
        f.write("# cluster " + " ".join(variants) + "\n")
        for img, rtt in clusters:
            vals = [by.get((img, rtt, v)) for v in variants]
            f.write(f"\"{img} @ {rtt} ms\" " +
                    " ".join("NaN" if x is None else f"{x:.3f}" for x in vals) + "\n")
    png = os.path.join(outdir, "coldstart.png")
    cols = " , ".join(f"'{dat}' using {i + 2}:xtic(1) title '{LABEL.get(v, v)}'"
                      for i, v in enumerate(variants))
    script = f"""
set terminal pngcairo size 1200,650 font ",10" noenhanced
set output '{png}'
set title "clipfs cold start: time to ready (mount or pull start to workload exit), median"
set ylabel "seconds (log scale)"
set logscale y
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xrange [-0.6:{len(clusters) - 0.4}]
set key outside right top vertical
set yrange [0.05:*]
plot {cols}
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"coldstart_report: gnuplot failed: {e}", file=sys.stderr)


def against_base(results, pairs=None):
    """Per (image, RTT, variant): the median over rounds of this build's
    time over the base build's in the same round (they ran interleaved),
    and the lowest and highest such ratio; None without --base.  With
    pairs: the same for those variants against theirs (AGAINST_LOCAL)."""
    pairs = pairs or AGAINST_BASE
    t = {(r["image"], r["rtt_ms"], r["run"], r["variant"]): r["seconds"]
         for r in results if r.get("ok")}
    out = []
    keys = sorted({(img, rtt, v) for (img, rtt, _, v) in t if v in pairs})
    for img, rtt, v in keys:
        ratios = [t[(img, rtt, run, v)] / t[(img, rtt, run, pairs[v])]
                  for (i2, r2, run, v2) in t
                  if (i2, r2, v2) == (img, rtt, v) and (img, rtt, run, pairs[v]) in t]
        if ratios:
            out.append({"image": img, "rtt_ms": rtt, "variant": v, "rounds": len(ratios),
                        "ratio_median": med(ratios), "ratio_min": min(ratios),
                        "ratio_max": max(ratios)})
    return out or None


def base_text(meta, ab, title=None):
    L = ["", title or f"Against the base build ({meta.get('base', '?')}), interleaved in the "
         "same rounds:\ntime of this build / time of the base, per round (below 1: faster)"]
    for a in ab:
        L.append(f"  {a['image']:<6} {a['rtt_ms']:>4} ms {a['variant']:<16} "
                 f"median {a['ratio_median']:.2f} (min {a['ratio_min']:.2f}, "
                 f"max {a['ratio_max']:.2f}, {a['rounds']} rounds)")
    return "\n".join(L) + "\n"


def main():
    raw, outdir = sys.argv[1], sys.argv[2]
    meta, images, results = load(raw)
    rows = summarise(images, results)
    tg = targets(images, rows)
    txt = text(meta, images, rows, tg)
    ab = against_base(results)
    if ab:
        txt += base_text(meta, ab)
    al = against_base(results, AGAINST_LOCAL)
    if al:
        txt += base_text(meta, al, "Warm against the local rootfs, interleaved in the same "
                         "rounds:\ntime of the variant / time of local, per round")
    with open(os.path.join(outdir, "coldstart.txt"), "w") as f:
        f.write(txt)
    with open(os.path.join(outdir, "coldstart.json"), "w") as f:
        json.dump({"meta": meta, "images": images, "rows": rows, "targets": tg,
                   "against_base": ab, "against_local": al}, f, indent=1)
        f.write("\n")
    plot(rows, outdir)
    sys.stdout.write(txt)


if __name__ == "__main__":
    main()
