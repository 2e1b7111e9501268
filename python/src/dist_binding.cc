// Distributed attention entry (dist_attn.h): keys, dispatch, calc_attn (fwd/bwd), undispatch.
// Tensors are read directly (torch_tensor.h); configs arrive as the bound types
// (config_binding.cc). The GIL stays held: the core calls back into the Python communicator on
// this thread.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <vector>

#include "api/key_agreement.h"
#include "communicator_binding.h"
#include "magi/dist_attn.h"
#include "torch_allocator.h"
#include "torch_tensor.h"
#include "views.h"

namespace py = pybind11;

namespace magi::python {
namespace {

/// The Python-visible handle of one cached runtime (pybind11 cannot hold shared_ptr<const T>).
struct Runtime {
  std::shared_ptr<const DistAttnRuntime> rt;
};

void bind_runtime(py::module_& m) {
  py::class_<Runtime>(m, "Runtime",
                      "One rank's immutable runtime of a key (dispatch, plan, prepared work).")
      .def_property_readonly("padded_seqlen",
                             [](const Runtime& r) { return r.rt->padded_seqlen(); })
      .def_property_readonly("shard_seqlen", [](const Runtime& r) { return r.rt->shard_seqlen(); })
      .def_property_readonly("pad_size", [](const Runtime& r) { return r.rt->key().pad_size; })
      .def_property_readonly("chunk_size", [](const Runtime& r) { return r.rt->key().chunk_size; })
      .def_property_readonly("cp_size", [](const Runtime& r) { return r.rt->key().cp_size; })
      .def_property_readonly("cp_rank", [](const Runtime& r) { return r.rt->key().cp_rank; })
      .def_property_readonly("total_seqlen_q",
                             [](const Runtime& r) { return r.rt->key().total_seqlen_q; })
      .def_property_readonly("total_seqlen_k",
                             [](const Runtime& r) { return r.rt->key().total_seqlen_k; })
      .def_property_readonly("shard_seqlen_kv",
                             [](const Runtime& r) { return r.rt->shard_seqlen_kv(); })
      .def_property_readonly("pad_size_kv",
                             [](const Runtime& r) { return r.rt->key().pad_size_kv; })
      .def_property_readonly("chunk_size_kv",
                             [](const Runtime& r) { return r.rt->key().chunk_size_kv; })
      .def("position_ids", [](const Runtime& r) { return r.rt->position_ids(); })
      .def("position_ids_kv", [](const Runtime& r) { return r.rt->position_ids_kv(); })
      .def("partitions_kv", [](const Runtime& r) { return r.rt->dispatch_meta_kv().partitions; })
      .def_property_readonly(
          "hier_mesh", [](const Runtime& r) { return r.rt->key().config.hier_mesh; },
          "The mesh of hierarchical communication (CommMesh), or None: flat.")
      .def(
          "comm_rows",
          [](const Runtime& r) {
            const CommVolume v = r.rt->comm_rows();
            return py::dict(py::arg("inter") = v.inter_rows, py::arg("intra") = v.intra_rows);
          },
          "K|V rows this rank receives per group-cast, by level ({'inter': n, 'intra': n}; a "
          "flat key has one level, counted as intra). Bytes: rows * 2 * num_heads_kv * head_dim "
          "* element size.")
      .def("partitions", [](const Runtime& r) { return r.rt->dispatch_meta().partitions; })
      .def(
          "plan_json",
          [](const Runtime& r, bool with_slices) { return r.rt->plan().to_json(with_slices); },
          py::arg("with_slices") = false)
      .def(
          "same_as", [](const Runtime& a, const Runtime& b) { return a.rt == b.rt; },
          "True when both handles hold the same cached runtime object.");
}

/// Binds one side's dispatch (a local copy: no callback, so without the GIL) and undispatch
/// (an exchange over `comm`, scratch from torch's allocator) under the given names.
template <auto kDispatch, auto kUndispatch>
void def_dispatch_pair(py::module_& m, const char* dispatch_name, const char* undispatch_name) {
  m.def(
      dispatch_name,
      [](const Runtime& r, py::handle x_global, py::handle x_local, double pad_value,
         uintptr_t stream) {
        const TensorView g = tensor_view(x_global, "x"), l = tensor_view(x_local, "x_local");
        py::gil_scoped_release nogil;
        kDispatch(*r.rt, g, l, pad_value, reinterpret_cast<void*>(stream));
      },
      py::arg("runtime"), py::arg("x_global"), py::arg("x_local"), py::arg("pad_value") = 0.0,
      py::arg("stream") = 0);
  m.def(
      undispatch_name,
      [](const Runtime& r, Communicator& comm, py::handle x_local, py::handle x_global,
         uintptr_t stream, py::object alloc) {
        const TensorView l = tensor_view(x_local, "x"), g = tensor_view(x_global, "x_global");
        TorchAllocator torch_alloc(std::move(alloc));
        kUndispatch(*r.rt, comm, l, g, reinterpret_cast<void*>(stream),
                    torch_alloc.for_device(l.device));
      },
      py::arg("runtime"), py::arg("comm"), py::arg("x_local"), py::arg("x_global"),
      py::arg("stream") = 0, py::arg("alloc") = py::none());
}

}  // namespace

void register_dist(py::module_& m) {
  register_communicator(m);
  bind_runtime(m);

  m.def(
      "make_flex_key",
      [](const std::vector<SliceTuple>& slices, int64_t total_seqlen_q, int64_t total_seqlen_k,
         int64_t num_heads_q, int64_t num_heads_kv, int64_t head_dim, Communicator& comm,
         const DistAttnConfig& config, std::optional<int64_t> chunk_size, bool is_same_source) {
        const auto core_slices = slices_from_tuples(slices);
        return Runtime{make_flex_key(core_slices, total_seqlen_q, total_seqlen_k, num_heads_q,
                                     num_heads_kv, head_dim, comm, config, chunk_size,
                                     is_same_source)};
      },
      py::arg("slices"), py::arg("total_seqlen_q"), py::arg("total_seqlen_k"),
      py::arg("num_heads_q"), py::arg("num_heads_kv"), py::arg("head_dim"), py::arg("comm"),
      py::arg("config"), py::arg("chunk_size") = py::none(), py::arg("is_same_source") = true,
      "magi::make_flex_key; head counts and head_dim may be 0 (not given).");

  m.def(
      "make_flex_key_for_new_mask_after_dispatch",
      [](const std::vector<SliceTuple>& slices, const Runtime& key_for_dispatch, Communicator& comm,
         std::optional<int64_t> num_heads_q, std::optional<int64_t> num_heads_kv,
         std::optional<int64_t> head_dim, std::optional<OverlapConfig> overlap_config) {
        const auto core_slices = slices_from_tuples(slices);
        return Runtime{make_flex_key_for_new_mask_after_dispatch(core_slices, *key_for_dispatch.rt,
                                                                 comm, num_heads_q, num_heads_kv,
                                                                 head_dim, overlap_config)};
      },
      py::arg("slices"), py::arg("key_for_dispatch"), py::arg("comm"),
      py::arg("num_heads_q") = py::none(), py::arg("num_heads_kv") = py::none(),
      py::arg("head_dim") = py::none(), py::arg("overlap_config") = py::none(),
      "magi::make_flex_key_for_new_mask_after_dispatch; None inherits from key_for_dispatch.");

  m.def(
      "check_key_agreement",
      [](const std::vector<SliceTuple>& slices, int64_t total_seqlen_q, int64_t total_seqlen_k,
         int64_t num_heads_q, int64_t num_heads_kv, int64_t head_dim, Communicator& comm,
         const DistAttnConfig& config, std::optional<int64_t> chunk_size) {
        const auto core_slices = slices_from_tuples(slices);
        api::check_key_agreement({core_slices, total_seqlen_q, total_seqlen_k, num_heads_q,
                                  num_heads_kv, head_dim, chunk_size, &config},
                                 comm);
      },
      "The collective check of make_flex_key alone (same arguments), for a cached key.",
      py::arg("slices"), py::arg("total_seqlen_q"), py::arg("total_seqlen_k"),
      py::arg("num_heads_q"), py::arg("num_heads_kv"), py::arg("head_dim"), py::arg("comm"),
      py::arg("config"), py::arg("chunk_size") = py::none());

  m.def(
      "varlen_slices",
      [](const std::vector<int64_t>& cu_q, const std::vector<int64_t>& cu_k, bool causal,
         int64_t window_left, int64_t window_right, int64_t global_window) {
        return slices_to_tuples(
            varlen_slices(cu_q, cu_k, causal, window_left, window_right, global_window));
      },
      py::arg("cu_seqlens_q"), py::arg("cu_seqlens_k"), py::arg("causal"),
      py::arg("window_left") = -1, py::arg("window_right") = -1, py::arg("global_window") = 0);

  m.def("clear_key_cache", &clear_key_cache);
  m.def("key_cache_size", &key_cache_size);

  def_dispatch_pair<&dispatch, &undispatch>(m, "dispatch", "undispatch");
  def_dispatch_pair<&dispatch_kv, &undispatch_kv>(m, "dispatch_kv", "undispatch_kv");

  m.def(
      "roll",
      [](const Runtime& r, Communicator& comm, py::handle x_local, int64_t shift, py::handle out,
         uintptr_t stream, py::object alloc) {
        const TensorView x = tensor_view(x_local, "x"), o = tensor_view(out, "out");
        TorchAllocator torch_alloc(std::move(alloc));
        roll(*r.rt, comm, x, shift, o, reinterpret_cast<void*>(stream),
             torch_alloc.for_device(x.device));
      },
      py::arg("runtime"), py::arg("comm"), py::arg("x_local"), py::arg("shift"), py::arg("out"),
      py::arg("stream") = 0, py::arg("alloc") = py::none());

  m.def(
      "calc_attn",
      [](const Runtime& r, Communicator& comm, py::handle q, py::handle k, py::handle v,
         py::handle out, py::handle lse, double softmax_scale, double softcap, uintptr_t stream,
         py::object alloc, py::handle sink, const std::string& sink_layout, py::handle max_logits) {
        const AttnViews t = forward_views(q, k, v, out, lse);
        TorchAllocator torch_alloc(std::move(alloc));
        FfaOptions o = ffa_options(softmax_scale, softcap, stream);
        o.allocator = torch_alloc.for_device(t.q.device);
        set_sink(o, sink, sink_layout);
        o.max_logits = optional_tensor_view(max_logits, "max_logits");
        calc_attn(*r.rt, comm, t.q, t.k, t.v, o, t.out, t.lse);
      },
      py::arg("runtime"), py::arg("comm"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"),
      py::arg("lse"), py::arg("softmax_scale"), py::arg("softcap"), py::arg("stream"),
      py::arg("alloc") = py::none(), py::arg("sink") = py::none(), py::arg("sink_layout") = "sh",
      py::arg("max_logits") = py::none());

  m.def(
      "calc_attn_backward",
      [](const Runtime& r, Communicator& comm, py::handle q, py::handle k, py::handle v,
         py::handle out, py::handle lse, py::handle dout, py::handle dq, py::handle dk,
         py::handle dv, double softmax_scale, double softcap, uintptr_t stream, py::object alloc,
         py::handle sink, const std::string& sink_layout, py::handle dsink) {
        const AttnViews t = backward_views(q, k, v, out, lse, dout, dq, dk, dv);
        TorchAllocator torch_alloc(std::move(alloc));
        FfaOptions o = ffa_options(softmax_scale, softcap, stream);
        o.allocator = torch_alloc.for_device(t.q.device);
        set_sink(o, sink, sink_layout);
        const TensorView ds = optional_tensor_view(dsink, "dsink");
        calc_attn_backward(*r.rt, comm, t.q, t.k, t.v, t.out, t.lse, t.dout, o, t.dq, t.dk, t.dv,
                           ds);
      },
      py::arg("runtime"), py::arg("comm"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"),
      py::arg("lse"), py::arg("dout"), py::arg("dq"), py::arg("dk"), py::arg("dv"),
      py::arg("softmax_scale"), py::arg("softcap"), py::arg("stream"),
      py::arg("alloc") = py::none(), py::arg("sink") = py::none(), py::arg("sink_layout") = "sh",
      py::arg("dsink") = py::none());
}

}  // namespace magi::python
