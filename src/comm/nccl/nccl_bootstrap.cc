// The unique-id helpers of nccl_comm.h: a fresh id, and one shared through a file.
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <unistd.h>

#include "comm/nccl/nccl_check.h"
#include "magi/nccl_comm.h"

namespace magi {

std::string nccl_new_unique_id() {
  ncclUniqueId id;
  MAGI_NCCL_CHECK(ncclGetUniqueId(&id));
  return std::string(id.internal, sizeof(id.internal));
}

std::string nccl_unique_id_from_file(const std::string& path, int64_t rank,
                                     std::chrono::milliseconds timeout) {
  namespace fs = std::filesystem;
  const size_t bytes = sizeof(ncclUniqueId::internal);
  if (rank == 0) {
    MAGI_CHECK(!fs::exists(path), "nccl_unique_id_from_file: ", path,
               " already exists (a stale id from an earlier run?): remove it first");
    const std::string id = nccl_new_unique_id();
    // NOTE: written beside the target and renamed, so a reader never sees a partial id.
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(id.data(), static_cast<std::streamsize>(id.size()));
      MAGI_CHECK(out.good(), "nccl_unique_id_from_file: cannot write ", tmp);
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    MAGI_CHECK(!ec, "nccl_unique_id_from_file: cannot rename ", tmp, " to ", path, ": ",
               ec.message());
    return id;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!fs::exists(path)) {
    MAGI_CHECK(std::chrono::steady_clock::now() < deadline, "nccl_unique_id_from_file: rank ", rank,
               " waited ", timeout.count(), " ms for rank 0 to publish ", path);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ifstream in(path, std::ios::binary);
  std::string id(bytes, '\0');
  in.read(id.data(), static_cast<std::streamsize>(bytes));
  MAGI_CHECK(in.gcount() == static_cast<std::streamsize>(bytes), "nccl_unique_id_from_file: ", path,
             " holds ", in.gcount(), " bytes, expected ", bytes);
  return id;
}

}  // namespace magi
