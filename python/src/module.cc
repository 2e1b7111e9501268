// magi_attention._C: the thin pybind11 module over the framework-free core. It links no
// libtorch: torch tensors are read through Python attribute access (torch_tensor.h).
#include <pybind11/pybind11.h>

namespace magi::python {
void register_common(pybind11::module_& m);
void register_torch(pybind11::module_& m);
void register_config(pybind11::module_& m);
void register_ffa(pybind11::module_& m);
void register_dist(pybind11::module_& m);
void register_range_ops(pybind11::module_& m);
}  // namespace magi::python

PYBIND11_MODULE(_C, m) {
  m.doc() = "magi core bindings (internal; use magi_attention.api)";
  magi::python::register_common(m);
  magi::python::register_torch(m);
  magi::python::register_config(m);
  magi::python::register_ffa(m);
  magi::python::register_dist(m);
  magi::python::register_range_ops(m);
}
