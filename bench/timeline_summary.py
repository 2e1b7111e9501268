"""Summary of the backward timeline probe's lines (-DMAGI_FFA_BWD_TIMELINE=1, bwd_timeline.cuh):
  python3 bench/timeline_summary.py out/tl_swa_pdl0.txt [more files]
Per launch printed (one line per CTA, `grid` lines a launch): the CTAs' ends (max / mean / min,
us), the last wait's end, the mean time of each of the first 16 tiles (us, from the wait's end
on) and the SMs of the first 16 CTAs (how the CTAs were placed; bench/NOTES.md v54, v55).
"""
import re
import statistics as st
import sys

LINE = re.compile(r"bwd timeline cta (\d+) sm (\d+) entry (-?\d+) ready (-?\d+) end (-?\d+) "
                  r"tiles (\d+):(.*)")


def launches(path):
    """Lists of CTA records, one list per launch (a launch's lines start at cta 0)."""
    out = []
    for line in open(path):
        m = LINE.match(line)
        if not m:
            continue
        cta, sm, _, ready, end, _ = map(int, m.groups()[:6])
        marks = [tuple(map(int, x.split("@"))) for x in m.group(7).split()]
        if cta == 0:
            out.append([])
        out[-1].append({"sm": sm, "ready": ready, "end": end, "marks": marks})
    return out


def main():
    for path in sys.argv[1:]:
        for i, ctas in enumerate(launches(path)):
            ends = [c["end"] / 1e3 for c in ctas]
            tiles = {}
            for c in ctas:
                t = [c["ready"]] + [ns for _, ns in c["marks"]]
                for k in range(len(c["marks"])):
                    tiles.setdefault(k, []).append((t[k + 1] - t[k]) / 1e3)
            print(f"{path} #{i}: {len(ctas)} CTAs, end max {max(ends):.0f} mean "
                  f"{st.mean(ends):.0f} min {min(ends):.0f} us, waits end by "
                  f"{max(c['ready'] for c in ctas) / 1e3:.1f} us")
            print("  tile us:", " ".join(f"{st.mean(tiles[k]):.1f}" for k in sorted(tiles)))
            print("  SMs of CTAs 0-15:", [c["sm"] for c in ctas[:16]])


if __name__ == "__main__":
    main()
