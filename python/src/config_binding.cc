// The configs and enums of magi/config.h and magi/mask.h bound as Python types: the one
// vocabulary of both languages. The package's seed-compatible dataclasses convert into these
// (magi_attention/config.py) and the core validates them (validate()).
#include <pybind11/operators.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sstream>

#include "magi/config.h"
#include "magi/mask.h"

namespace py = pybind11;

namespace magi::python {
namespace {

std::string opt(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "None"; }

}  // namespace

void register_config(py::module_& m) {
  py::enum_<AttnMaskType>(m, "AttnMaskType")
      .value("full", AttnMaskType::kFull)
      .value("causal", AttnMaskType::kCausal)
      .value("inv_causal", AttnMaskType::kInvCausal)
      .value("bi_causal", AttnMaskType::kBiCausal);
  py::enum_<DispatchAlgType>(m, "DispatchAlgType")
      .value("min_heap", DispatchAlgType::kMinHeap)
      .value("sequential", DispatchAlgType::kSequential)
      .value("sorted_sequential_select", DispatchAlgType::kSortedSequentialSelect)
      .value("topp_heap", DispatchAlgType::kToppHeap)
      .value("exact", DispatchAlgType::kExact);
  py::enum_<OverlapAlgType>(m, "OverlapAlgType")
      .value("uniform", OverlapAlgType::kUniform)
      .value("greedy", OverlapAlgType::kGreedy);
  py::enum_<AttnOverlapMode>(m, "AttnOverlapMode")
      .value("static", AttnOverlapMode::kStatic)
      .value("dynamic", AttnOverlapMode::kDynamic);

  py::class_<DispatchAlg>(m, "DispatchAlg")
      .def(py::init<>())
      .def_readwrite("type", &DispatchAlg::type)
      .def_readwrite("top_p", &DispatchAlg::top_p)
      .def_readwrite("allocation_ratio", &DispatchAlg::allocation_ratio)
      .def("validate", &DispatchAlg::validate)
      .def(py::self == py::self);
  py::class_<DispatchConfig>(m, "DispatchConfig")
      .def(py::init<>())
      .def_readwrite("alg", &DispatchConfig::alg)
      .def_readwrite("chunk_size", &DispatchConfig::chunk_size)
      .def_readwrite("uneven_shard", &DispatchConfig::uneven_shard)
      .def("validate", &DispatchConfig::validate)
      .def(py::self == py::self);
  py::class_<OverlapAlg>(m, "OverlapAlg")
      .def(py::init<>())
      .def_readwrite("type", &OverlapAlg::type)
      .def_readwrite("random_costs", &OverlapAlg::random_costs)
      .def_readwrite("random_seed", &OverlapAlg::random_seed)
      .def(py::self == py::self);
  py::class_<OverlapConfig>(m, "OverlapConfig")
      .def(py::init<>())
      .def_readwrite("enable", &OverlapConfig::enable)
      .def_readwrite("mode", &OverlapConfig::mode)
      .def_readwrite("degree", &OverlapConfig::degree)
      .def_readwrite("dynamic_max_degree", &OverlapConfig::dynamic_max_degree)
      .def_readwrite("min_chunk_size", &OverlapConfig::min_chunk_size)
      .def_readwrite("max_num_chunks", &OverlapConfig::max_num_chunks)
      .def_readwrite("alg", &OverlapConfig::alg)
      .def_readwrite("calc_cost_factor", &OverlapConfig::calc_cost_factor)
      .def_readwrite("comm_cost_factor", &OverlapConfig::comm_cost_factor)
      .def("effective_degree", &OverlapConfig::effective_degree)
      .def("validate", &OverlapConfig::validate)
      .def(py::self == py::self);
  py::class_<CommMesh>(m, "CommMesh")
      .def(py::init<int64_t, int64_t>(), py::arg("inter"), py::arg("intra"))
      .def_readwrite("inter", &CommMesh::inter)
      .def_readwrite("intra", &CommMesh::intra)
      .def(py::self == py::self)
      .def("__repr__", [](const CommMesh& c) {
        return "CommMesh(inter=" + std::to_string(c.inter) + ", intra=" + std::to_string(c.intra) +
               ")";
      });
  py::class_<DistAttnConfig>(m, "DistAttnConfig")
      .def(py::init<>())
      .def_readwrite("dispatch_config", &DistAttnConfig::dispatch_config)
      .def_readwrite("overlap_config", &DistAttnConfig::overlap_config)
      .def_readwrite("high_bandwith_domain_size", &DistAttnConfig::high_bandwith_domain_size)
      .def_readwrite("hier_mesh", &DistAttnConfig::hier_mesh)
      .def("validate", &DistAttnConfig::validate)
      .def(py::self == py::self)
      .def("__repr__", [](const DistAttnConfig& c) {
        const OverlapConfig& o = c.overlap_config;
        std::ostringstream os;
        os << "DistAttnConfig(dispatch=" << to_string(c.dispatch_config.alg.type)
           << ", chunk_size=" << opt(c.dispatch_config.chunk_size)
           << ", uneven_shard=" << c.dispatch_config.uneven_shard << ", overlap=" << o.enable
           << ", degree=" << opt(o.degree) << ")";
        return os.str();
      });
}

}  // namespace magi::python
