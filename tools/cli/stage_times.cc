#include "stage_times.h"

#include <algorithm>
#include <functional>

#include "magi/check.h"

namespace magi::cli {

std::unique_ptr<CommHandle> RecordingComm::all_to_all_v(const TensorView& send,
                                                        std::span<const int64_t> sc,
                                                        const TensorView& recv,
                                                        std::span<const int64_t> rc,
                                                        int64_t row_bytes, void* stream) {
  struct Handle : CommHandle {
    std::unique_ptr<CommHandle> inner;
    RecordingComm* owner;
    size_t index;
    void wait() override {
      timed([&] { inner->wait(); });
    }
    void wait_on(void* stream) override {
      timed([&] { inner->wait_on(stream); });
    }
    void timed(const std::function<void()>& f) {
      const double t0 = owner->now();
      f();
      const double t1 = owner->now();
      if (index < owner->events_.size()) {
        owner->events_[index].wait_begin = t0;
        owner->events_[index].wait_end = t1;
      }
    }
  };
  auto h = std::make_unique<Handle>();
  h->owner = this;
  h->index = events_.size();
  events_.push_back({now(), 0, 0});
  h->inner = c_.all_to_all_v(send, sc, recv, rc, row_bytes, stream);
  return h;
}

void RecordingComm::start_pass() {
  events_.clear();
  origin_ = Clock::now();
}

double RecordingComm::now() const {
  return std::chrono::duration<double>(Clock::now() - origin_).count();
}

namespace {

// Splits n events into num_stages equal groups (K and V may travel as separate exchanges).
int64_t per_stage(size_t n, int64_t num_stages, int64_t groups) {
  MAGI_CHECK(num_stages >= 1 && n % static_cast<size_t>(num_stages * groups) == 0,
             "stage times: ", n, " exchanges do not split into ", groups, " x ", num_stages,
             " stages");
  return static_cast<int64_t>(n) / (num_stages * groups);
}

}  // namespace

MeasuredPass forward_stages(const std::vector<RecordingComm::Event>& ev, int64_t num_stages,
                            double end_s) {
  MeasuredPass m;
  m.end_s = end_s;
  if (ev.empty()) {  // one rank: the host stage only
    m.host_s = end_s;
    m.stage_s.assign(num_stages, 0.0);
    return m;
  }
  const int64_t k = per_stage(ev.size(), num_stages, 1);
  m.host_s = ev[0].wait_begin - ev[ev.size() - 1].post;
  for (int64_t s = 0; s < num_stages; ++s) {
    const double begin = ev[(s + 1) * k - 1].wait_end;
    const double end = s + 1 < num_stages ? ev[(s + 1) * k].wait_begin : end_s;
    m.stage_s.push_back(end - begin);
  }
  for (const auto& e : ev) m.wait_s += e.wait_end - e.wait_begin;
  return m;
}

MeasuredPass backward_stages(const std::vector<RecordingComm::Event>& ev, int64_t num_stages,
                             double end_s) {
  MeasuredPass m;
  m.end_s = end_s;
  if (ev.empty()) {
    m.host_s = end_s;
    m.stage_s.assign(num_stages, 0.0);
    return m;
  }
  const int64_t k = per_stage(ev.size(), num_stages, 2);
  const size_t fetches = static_cast<size_t>(num_stages * k);
  m.host_s = ev[0].wait_begin - ev[fetches - 1].post;
  for (int64_t s = 0; s < num_stages; ++s) {
    const double begin = ev[(s + 1) * k - 1].wait_end;
    const double end = ev[fetches + s * k].post;  // its reduce leaves when the kernel is done
    m.stage_s.push_back(end - begin);
  }
  for (const auto& e : ev) m.wait_s += e.wait_end - e.wait_begin;
  return m;
}

void barrier(Communicator& comm) {
  float dummy = 0;
  const TensorView none = TensorView::contiguous(&dummy, DType::kFloat32, {0, 1});
  const std::vector<int64_t> zeros(comm.size(), 0);
  comm.all_to_all_v(none, zeros, none, zeros, 4)->wait();
}

}  // namespace magi::cli
