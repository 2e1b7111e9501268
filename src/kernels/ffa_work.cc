#include "magi/ffa.h"

#include "kernels/ffa_work_impl.h"

namespace magi {

FfaWork::FfaWork(std::span<const AttnSlice> slices, int64_t total_q, int64_t total_k)
    : impl_(std::make_unique<Impl>()) {
  MAGI_CHECK(total_q >= 0 && total_k >= 0, "FfaWork: total_q = ", total_q, ", total_k = ", total_k,
             ": must be >= 0");
  check_slices(slices, total_q, total_k);
  impl_->slices = make_disjoint(slices);
  impl_->total_q = total_q;
  impl_->total_k = total_k;
}

FfaWork::~FfaWork() = default;
FfaWork::FfaWork(FfaWork&&) noexcept = default;
FfaWork& FfaWork::operator=(FfaWork&&) noexcept = default;

namespace {

/// A moved-from FfaWork holds nothing: using it is an error, not a null dereference.
const FfaWork::Impl& live(const std::unique_ptr<FfaWork::Impl>& impl) {
  MAGI_CHECK(impl != nullptr, "FfaWork: used after it was moved from");
  return *impl;
}

}  // namespace

int64_t FfaWork::total_q() const { return live(impl_).total_q; }
int64_t FfaWork::total_k() const { return live(impl_).total_k; }
std::span<const AttnSlice> FfaWork::slices() const { return live(impl_).slices; }

}  // namespace magi
