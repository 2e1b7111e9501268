#include "torch_allocator.h"

#include "magi/check.h"

namespace py = pybind11;

namespace magi::python {

void* TorchAllocator::allocate(size_t bytes, Device device, void*) {
  py::gil_scoped_acquire gil;
  py::object t = alloc_(bytes, device.index);
  void* p = PyLong_AsVoidPtr(t.attr("data_ptr")().ptr());
  MAGI_CHECK(p != nullptr && reinterpret_cast<uintptr_t>(p) % 256 == 0,
             "workspace: the allocator returned a block that is not 256-byte aligned");
  blocks_.push_back(std::move(t));
  return p;
}

}  // namespace magi::python
