// magi_attention._C: the thin pybind11 module over the framework-free core. It links no
// libtorch; tensors arrive as TensorViews built by the Python package.
#include <pybind11/pybind11.h>

namespace magi::python {
void register_common(pybind11::module_& m);
void register_ffa(pybind11::module_& m);
void register_dist(pybind11::module_& m);
void register_range_ops(pybind11::module_& m);
}  // namespace magi::python

PYBIND11_MODULE(_C, m) {
  m.doc() = "magi core bindings (internal; use magi_attention.api)";
  magi::python::register_common(m);
  magi::python::register_ffa(m);
  magi::python::register_dist(m);
  magi::python::register_range_ops(m);
}
