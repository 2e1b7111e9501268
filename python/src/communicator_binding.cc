#include "communicator_binding.h"

#include <pybind11/stl.h>

#include <numeric>
#include <vector>

#include "magi/check.h"

namespace py = pybind11;

namespace magi::python {
namespace {

/// Completion of a Python-side exchange: wait() calls the Python object's wait(), wait_on(s)
/// its wait_on(s) when it has one.
class PyHandle : public CommHandle {
 public:
  explicit PyHandle(py::object work) : work_(std::move(work)) {}
  ~PyHandle() override {
    py::gil_scoped_acquire gil;
    work_ = py::object();
  }
  void wait() override {
    py::gil_scoped_acquire gil;
    work_.attr("wait")();
  }
  void wait_on(void* stream) override {
    py::gil_scoped_acquire gil;
    if (py::hasattr(work_, "wait_on")) {  // nullptr is a stream too (CUDA's default one)
      work_.attr("wait_on")(reinterpret_cast<uintptr_t>(stream));
    } else {
      work_.attr("wait")();
    }
  }

 private:
  py::object work_;
};

/// (address, nbytes, is_cuda, device_index) of the first `rows` rows of a contiguous buffer.
py::tuple describe_buffer(const TensorView& t, std::span<const int64_t> counts, int64_t row_bytes,
                          const char* name) {
  const int64_t rows = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  const int64_t nbytes = rows * row_bytes;
  MAGI_CHECK(t.is_contiguous(), "all_to_all_v: ", name, " must be contiguous, got ", t.describe());
  MAGI_CHECK(nbytes <= t.numel() * static_cast<int64_t>(dtype_size(t.dtype)),
             "all_to_all_v: ", name, " holds fewer than ", rows, " rows of ", row_bytes,
             " bytes: ", t.describe());
  return py::make_tuple(reinterpret_cast<uintptr_t>(t.data), nbytes,
                        t.device.type == DeviceType::kCUDA, t.device.index);
}

}  // namespace

PyCommunicator::PyCommunicator(int64_t rank, int64_t size, std::string group_id)
    : rank_(rank), size_(size), group_id_(std::move(group_id)) {
  MAGI_CHECK(size >= 1 && rank >= 0 && rank < size, "Communicator: rank = ", rank,
             ", size = ", size, ": need 0 <= rank < size");
}

std::unique_ptr<CommHandle> PyCommunicator::all_to_all_v(const TensorView& send,
                                                         std::span<const int64_t> send_counts,
                                                         const TensorView& recv,
                                                         std::span<const int64_t> recv_counts,
                                                         int64_t row_bytes, void* stream) {
  py::gil_scoped_acquire gil;
  py::function fn = py::get_override(static_cast<const Communicator*>(this), "all_to_all_v");
  MAGI_CHECK(static_cast<bool>(fn), "Communicator subclass does not implement all_to_all_v");
  py::object work = fn(describe_buffer(send, send_counts, row_bytes, "send"),
                       std::vector<int64_t>(send_counts.begin(), send_counts.end()),
                       describe_buffer(recv, recv_counts, row_bytes, "recv"),
                       std::vector<int64_t>(recv_counts.begin(), recv_counts.end()), row_bytes,
                       reinterpret_cast<uintptr_t>(stream));
  return std::make_unique<PyHandle>(std::move(work));
}

void register_communicator(py::module_& m) {
  py::class_<Communicator, PyCommunicator>(m, "Communicator",
                                           "Base class of Python communicators (see comm.h).")
      .def(py::init_alias<int64_t, int64_t, std::string>(), py::arg("rank"), py::arg("size"),
           py::arg("group_id"))
      .def("rank", &Communicator::rank)
      .def("size", &Communicator::size)
      .def("group_id", &Communicator::group_id);
}

}  // namespace magi::python
