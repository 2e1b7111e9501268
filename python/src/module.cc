// magi_attention._C: the pybind11 module. Each part registers its own functions.
#include <pybind11/pybind11.h>

#include "magi/check.h"

namespace magi::python {
void register_ffa(pybind11::module_& m);
void register_range_ops(pybind11::module_& m);
}  // namespace magi::python

PYBIND11_MODULE(_C, m) {
  m.doc() = "magi: C++/CUDA MagiAttention core";
  pybind11::register_exception<magi::Error>(m, "MagiError", PyExc_RuntimeError);
  magi::python::register_ffa(m);
  magi::python::register_range_ops(m);
}
