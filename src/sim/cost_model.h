// The pieces of the cost model shared by every simulated method (see magi/sim.h).
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "magi/mask.h"
#include "magi/sim.h"

namespace magi::sim::detail {

enum class Pass : int8_t { kFwd, kBwd };

/// Cells by mask type (index = AttnMaskType code).
using TypedCells = std::array<int64_t, 4>;

int64_t total(const TypedCells& c);
/// Adds the slices' cells, each under its own type.
void add_cells(std::span<const AttnSlice> slices, TypedCells& out);
/// Adds the cells of `s` inside rows x cols. A piece on which no diagonal bound binds counts as
/// FULL; one with bounds counts under the type of the bounds that bind (upper: CAUSAL, lower:
/// INVCAUSAL, both: BICAUSAL), trapezoids included.
void add_box_cells(const AttnSlice& s, AttnRange rows, AttnRange cols, TypedCells& out);

/// Time of one kernel call over `cells` spanning `rows` rows (q rows + k rows), on
/// heads_q / head_split heads; a call with no cells costs nothing.
double kernel_s(const TypedCells& cells, Pass pass, const ClusterDesc& c, const AttnShape& shape,
                int64_t rows, int64_t head_split = 1);

/// Bytes one rank moves in one exchange, by direction and level.
struct Traffic {
  double send_intra = 0, send_inter = 0, recv_intra = 0, recv_inter = 0;
  bool empty() const { return send_intra + send_inter + recv_intra + recv_inter == 0; }
};

/// One rank's link time for its share of an exchange (no latency).
double link_s(const Traffic& t, const ClusterDesc& c);
/// Local copy time (range gather / scatter-add) of `bytes`.
double copy_s(double bytes, const ClusterDesc& c);

/// The communication channel: exchanges run one after another in posting order.
class Channel {
 public:
  /// An exchange that may start at `ready` and lasts `duration`; returns its end.
  double run(double ready, double duration);

 private:
  double free_at_ = 0;
};

}  // namespace magi::sim::detail
