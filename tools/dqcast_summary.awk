# The dQ cast's per-CTA lines of the backward timeline probe (sm90/bwd_timeline.cuh, a
# -DMAGI_FFA_BWD_TIMELINE=1 build), summed: "bwd cast" lines (blocks cast, their ns, the
# longest; tiles counted down, their ns, the longest; the writer's ns waiting for a queue slot)
# and the "bwd timeline" lines' CTA ends. Used by tools/device_run.sh's dqcast step.
$1 == "bwd" && $2 == "cast" {
  blocks += $6; if ($6 > most) most = $6; cast_ns += $8
  tiles += $12; count_ns += $14; wait_ns += $18; ctas++
}
$1 == "bwd" && $2 == "timeline" {
  for (i = 1; i <= NF; i++) if ($i == "end") end = $(i + 1)
  if (end > last) last = end
  if (first == 0 || end < first) first = end
  ends++
}
END {
  if (ctas) {
    printf "cast: %d ctas, %d blocks (at most %d a cta), %.2f ms casting, ", ctas, blocks, most, cast_ns / 1e6
    printf "%d tiles counted in %.2f ms, the writer waited %.2f ms (sums over ctas)\n", tiles, count_ns / 1e6, wait_ns / 1e6
  }
  if (ends) printf "cta ends %.3f-%.3f ms\n", first / 1e6, last / 1e6
}
